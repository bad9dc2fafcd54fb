// The manager runs a set of controllers in one process: one shared informer per resource, leader election so one
// replica acts while others stand by, and /healthz, /readyz and /metrics for the kubelet and Prometheus.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { collectDefaultMetrics, Counter, Registry } from "prom-client";
import { Controller, ControllerMetrics, type ControllerSpec } from "./controller.js";
import { KubeEventRecorder, type EventRecorder } from "./events.js";
import { Informers } from "./informers.js";
import { LeaderElector } from "./leader-election.js";
import { serveProbes } from "./probes.js";
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
  const { registry, controllerMetrics, queueMetrics } = managerMetrics(client);
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
    ? electorFor(
        options.leaderElection,
        { client, identity, log, onLostLeadership: options.onLostLeadership },
        {
          start: startControllers,
          stop: stopControllers,
        },
      )
    : undefined;

  const probes = await serveProbes({
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    registry,
    // A standby is ready (it serves probes and waits); a leader once its caches have synced.
    notReady: () =>
      !elector?.isLeader || informers === undefined || informers.allSynced() ? undefined : "caches not synced",
  });

  if (elector) elector.run();
  else await startControllers();

  return {
    url: probes.url,
    identity,
    registry,
    isLeader: () => (elector ? elector.isLeader : true),
    controllers: () => running,
    close: async () => {
      await stopControllers();
      await elector?.stop();
      await probes.close();
    },
  };
}

function managerMetrics(client: KubeClient) {
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
  return { registry, controllerMetrics, queueMetrics };
}

/** Controllers run while this replica holds the lease; losing it stops them and (by default) the process. */
function electorFor(
  lease: Exclude<ManagerOptions["leaderElection"], false>,
  who: Pick<ManagerOptions, "client" | "log" | "onLostLeadership"> & { identity: string },
  controllers: { start(): Promise<void>; stop(): Promise<void> },
): LeaderElector {
  const { identity, log } = who;
  return new LeaderElector(who.client, {
    ...lease,
    identity,
    onStartedLeading: async () => {
      log.info({ identity, lease: lease.name }, "became leader");
      await controllers.start();
    },
    onStoppedLeading: () => {
      log.error({ identity }, "lost the leader lease; stopping");
      void controllers.stop().then(who.onLostLeadership ?? (() => process.exit(1)));
    },
    onNewLeader: (leader) => leader !== identity && log.info({ leader }, "another replica leads; standing by"),
    onError: (err) => log.warn({ err: err.message }, "leader election: lease read or write failed"),
  });
}
