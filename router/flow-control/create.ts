// Flow control for the router, assembled from its parts (parts.ts): auth → per-model RPS → per-user RPM/TPM → fair
// queue (VTC, priorities, shedding) in front of saturated models (acquire.ts). One constructor; the router only sees
// FlowControl.
import type http from "node:http";
import { isIP } from "node:net";
import type { Registry } from "prom-client";
import type { FlowControl, FlowFleetView } from "./control.js";
import { usersApiHandler, type UsersHandler } from "./users/api.js";
import type { UserStore } from "./users/store.js";
import { createServer, listen, shutdown } from "../../serving/http-server.js";
import { acquire } from "./acquire.js";
import { assembleParts, type FlowControlConfig } from "./parts.js";

export type { FlowControlConfig } from "./parts.js";

export interface FlowControlService {
  control: FlowControl;
  /** The users store behind the users API (for tools and tests). */
  users: UserStore;
  /** Users API + `/metrics` (flow-control metrics) + `/healthz`, for the admin port. */
  adminHandler: UsersHandler;
  registry: Registry;
  /** Starts the admin HTTP server; port 0 picks a free one. */
  startAdminServer(port: number, host?: string): Promise<{ port: number; close(): Promise<void> }>;
  redisUp(): boolean;
  /** Replicas last seen sharing Redis; while it is away each enforces this fraction of every limit. */
  sharingReplicas(): number;
  /** Charges accepted locally during an outage, not yet replayed into Redis. */
  pendingReplay(): number;
  /** Requests waiting in the fair queue for `model`. */
  queueDepth(model: string): number;
  close(): Promise<void>;
}

export async function createFlowControl(config: FlowControlConfig = {}): Promise<FlowControlService> {
  const parts = await assembleParts(config);
  const { logger, registry, backend, store, cache, queue, counters, gate } = parts;
  const control: FlowControl = {
    acquire: (req, signal) => acquire(parts, req, signal),
    attachFleet(view: FlowFleetView) {
      gate.fleet = view;
    },
    async close() {
      await close();
    },
  };

  const usersApi = usersApiHandler({ store, cache, adminToken: config.adminToken });
  const adminHandler: UsersHandler = (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      void registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(text);
      });
      return;
    }
    if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ ok: true, redis: backend.redisConfigured ? (backend.redisUp ? "up" : "down") : "none" }),
      );
      return;
    }
    usersApi(req, res);
  };

  let closed = false;
  const servers: http.Server[] = [];
  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    queue.close();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
          }),
      ),
    );
    await counters.close();
    await backend.close();
  }

  return {
    control,
    users: store,
    adminHandler,
    registry,
    redisUp: () => backend.redisUp,
    sharingReplicas: () => backend.sharingReplicas,
    pendingReplay: () => backend.pendingReplay,
    queueDepth: (model) => queue.depth(model),
    async startAdminServer(port: number, host = "127.0.0.1") {
      if (!config.adminToken && !isLoopback(host)) {
        throw new Error(
          `admin API on ${host}: anyone who can reach it could create users and keys; set $AIBRIX_ADMIN_TOKEN ` +
            "(callers then send Authorization: Bearer <token>) or listen on 127.0.0.1",
        );
      }
      const { server } = createServer(adminHandler, { log: logger });
      servers.push(server);
      const bound = await listen(server, port, host);
      return { port: bound, close: () => shutdown(server) };
    },
    close,
  };
}

/** Whether `host` is a loopback address (127.0.0.0/8, ::1) or `localhost`. */
function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}
