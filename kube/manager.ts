// The manager runs a set of controllers in one process: one shared informer per resource, leader election so one
// replica acts while others stand by, and /healthz, /readyz and /metrics for the kubelet and Prometheus.
import http from "node:http";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { collectDefaultMetrics, Counter, Registry } from "prom-client";
import { Controller, ControllerMetrics, type ControllerSpec } from "./controller.js";
import { KubeEventRecorder, type EventRecorder } from "./events.js";
import { Informers } from "./informers.js";
import { LeaderElector } from "./leader-election.js";
import type { KubeClient } from "./request.js";
import { WorkQueueMetrics } from "./workqueue.js";

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What a controller's setup receives: the shared caches and the tools to write. */
export interface ManagerContext {
  client: KubeClient;
  informers: Informers;
  recorder(controller: string): EventRecorder;
  log: Logger;
  registry: Registry;
}

/** A named controller the manager can enable; `setup` wires it to the shared informers. */
export interface ControllerSetup {
  name: string;
  setup(ctx: ManagerContext): ControllerSpec;
}

export class ControllerSelectionError extends Error {}

/**
 * The controllers a `--controllers` value enables: a comma list of names, `*` for all, `-name` to leave one out
 * (`*,-kvcache`). Unknown names are an error that lists the known ones.
 */
export function selectControllers(flag: string, known: readonly string[]): string[] {
  const parts = flag
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0)
    throw new ControllerSelectionError(`--controllers is empty; use "*" or some of: ${known.join(", ")}`);
  const unknown = parts.map((p) => p.replace(/^-/, "")).filter((p) => p !== "*" && !known.includes(p));
  if (unknown.length > 0) {
    throw new ControllerSelectionError(
      `--controllers names unknown controller(s) ${unknown.join(", ")}; known: ${known.join(", ")}`,
    );
  }
  const on = new Set(parts.includes("*") ? known : parts.filter((p) => !p.startsWith("-") && p !== "*"));
  for (const p of parts) if (p.startsWith("-")) on.delete(p.slice(1));
  return known.filter((k) => on.has(k));
}

export interface ManagerOptions {
  client: KubeClient;
  controllers: ControllerSetup[];
  /** Lease to campaign for; `false` runs without election (one replica only). */
  leaderElection:
    | false
    | { namespace: string; name: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** This replica's name in the lease and in Events (default hostname + random suffix, as client-go). */
  identity?: string;
  /** Probe and metrics address; port 0 picks a free one. */
  host?: string;
  port?: number;
  log: Logger;
  /** Leadership was lost: default exits the process (controller-runtime's choice: a clean restart re-campaigns). */
  onLostLeadership?(): void;
}

export interface RunningManager {
  readonly url: string;
  readonly identity: string;
  readonly registry: Registry;
  isLeader(): boolean;
  /** Controllers running now (empty on a standby). */
  controllers(): Controller[];
  close(): Promise<void>;
}

export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  const { client, log } = options;
  // The pod name (the chart sets POD_NAME) says which replica leads; the suffix keeps a restarted one distinct.
  const identity = options.identity ?? `${process.env.POD_NAME ?? hostname()}_${randomBytes(4).toString("hex")}`;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const controllerMetrics = new ControllerMetrics(registry);
  const queueMetrics = new WorkQueueMetrics(registry);
  // client-go's name: API load is a cost operators watch (and benchmarks report per object).
  const apiRequests = new Counter({
    name: "rest_client_requests_total",
    help: "Number of HTTP requests to the API server, partitioned by status code and method",
    labelNames: ["code", "method"],
    registers: [registry],
  });
  client.observe((method, _path, status) => apiRequests.labels(String(status), method).inc());
  let informers: Informers | undefined;
  let running: Controller[] = [];

  const startControllers = async () => {
    informers = new Informers(client, {
      onError: (err) => log.warn({ err: err.message }, "list/watch failed; retrying"),
    });
    const ctx: ManagerContext = {
      client,
      informers,
      log,
      registry,
      recorder: (name) =>
        new KubeEventRecorder(client, name, identity, {
          onError: (err) => log.warn({ err: err.message, controller: name }, "could not write an Event"),
        }),
    };
    running = options.controllers.map(
      (c) =>
        new Controller(
          {
            ...c.setup(ctx),
            onError: (key, err) =>
              log.warn({ controller: c.name, key, err: err.message }, "reconcile failed; will retry"),
          },
          { controller: controllerMetrics, queue: queueMetrics },
        ),
    );
    informers.start();
    await Promise.all(running.map((c) => c.start()));
    log.info({ controllers: running.map((c) => c.name), identity }, "controllers started");
  };
  const stopControllers = async () => {
    const was = running;
    running = [];
    await Promise.all(was.map((c) => c.stop()));
    await informers?.stop();
  };

  const elector = options.leaderElection
    ? new LeaderElector(client, {
        ...options.leaderElection,
        identity,
        onStartedLeading: async () => {
          log.info({ identity, lease: options.leaderElection && options.leaderElection.name }, "became leader");
          await startControllers();
        },
        onStoppedLeading: () => {
          log.error({ identity }, "lost the leader lease; stopping");
          void stopControllers().then(options.onLostLeadership ?? (() => process.exit(1)));
        },
        onNewLeader: (who) => who !== identity && log.info({ leader: who }, "another replica leads; standing by"),
        onError: (err) => log.warn({ err: err.message }, "leader election: lease read or write failed"),
      })
    : undefined;

  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") return void res.writeHead(200).end("ok");
    if (path === "/readyz") {
      // A standby is ready (it serves probes and waits); a leader once its caches have synced.
      const ready = !elector?.isLeader || informers === undefined || informers.allSynced();
      return void res.writeHead(ready ? 200 : 503).end(ready ? "ok" : "caches not synced");
    }
    if (path === "/metrics") {
      void registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    res
      .writeHead(404, { "content-type": "application/json" })
      .end(JSON.stringify({ error: `no route ${path}; try /healthz, /readyz or /metrics` }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve);
  });
  const addr = server.address() as { address: string; port: number };

  if (elector) elector.run();
  else await startControllers();

  return {
    url: `http://${addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}`,
    identity,
    registry,
    isLeader: () => (elector ? elector.isLeader : true),
    controllers: () => running,
    close: async () => {
      await stopControllers();
      await elector?.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}
