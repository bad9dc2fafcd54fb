// The optimizer's HTTP API, upstream AIBrix's paths and answers:
//   GET    /metrics/{namespace}/{deployment}   → `vllm:deployment_replicas{model_name="…"} N` (N = replicas × 100)
//   POST   /monitor/{namespace}/{deployment}   → start monitoring;  DELETE → stop
//   GET    /update_profile/{model}             → reload the profiles
//   POST   /scale/{namespace}/{deployment}/{replicas} → report this until the next solve
// plus its own: GET /metrics (Prometheus), GET /status (JSON), GET /dash/{model} (HTML page), GET /healthz.
import type http from "node:http";
import { createServer, listen, shutdown } from "../serving/http-server.js";
import { OptimizerMetrics } from "./metrics.js";
import { OptimizerService, type ModelState, type OptimizerSettings } from "./service.js";
import { renderDashboard } from "./dashboard.js";

/** Upstream's gpu_fraction: /metrics publishes replicas × 100, which targetValue "100" divides back. */
export const METRIC_SCALE = 100;

export interface OptimizerOptions extends Omit<
  OptimizerSettings,
  "metrics" | "log" | "intervalSeconds" | "windowSeconds" | "metricScale" | "sliceFactor"
> {
  host?: string;
  port?: number;
  /** Seconds between rounds (default 10, the router's flush interval). */
  intervalSeconds?: number;
  /** Sliding window over the workload signal (default 240 s). */
  windowSeconds?: number;
  /** Replica units per replica in /metrics (default 100: the PodAutoscaler's targetValue "100"). */
  metricScale?: number;
  /** Slices per bucket (upstream's slice_factor); absent = continuous shares (the default). */
  sliceFactor?: number;
  log?: (msg: string) => void;
  /** Run rounds on a timer (default); off, rounds run only through `tick()` (tests, what-if). */
  autoTick?: boolean;
}

export interface RunningOptimizer {
  url: string;
  port: number;
  service: OptimizerService;
  metrics: OptimizerMetrics;
  /** Runs one round now (tests; the loop runs on its own). */
  tick(now?: number): Promise<void>;
  close(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function segments(url: string): string[] {
  return new URL(url, "http://x").pathname
    .split("/")
    .filter((s) => s !== "")
    .map((s) => decodeURIComponent(s));
}

function checkNames(parts: readonly string[]): string | undefined {
  const bad = parts.find((p) => !SEGMENT.test(p));
  return bad === undefined
    ? undefined
    : `path segment ${JSON.stringify(bad)}: must be a Kubernetes name (${SEGMENT.source})`;
}

function replicasText(model: string, units: number): string {
  return (
    "# HELP vllm:deployment_replicas Number of suggested replicas.\n" +
    "# TYPE vllm:deployment_replicas gauge\n" +
    `vllm:deployment_replicas{model_name="${model}"} ${units}\n`
  );
}

function statusOf(state: ModelState, service: OptimizerService) {
  return {
    model: state.model,
    deployments: [...state.deployments.values()].map((d) => ({
      ...d,
      recommendedReplicas: service.replicaUnits(state, d) / service.settings.metricScale,
    })),
    rates: state.rates,
    plan: state.plan,
  };
}

async function route(
  service: OptimizerService,
  metrics: OptimizerMetrics,
  req: http.IncomingMessage,
  res: http.ServerResponse,
) {
  const parts = segments(req.url ?? "/");
  const method = req.method ?? "GET";
  const [head, a, b, c] = parts;
  if (method === "GET" && parts.length === 1 && head === "healthz") return void res.writeHead(200).end("ok");
  if (method === "GET" && parts.length === 1 && head === "metrics") {
    return void res
      .writeHead(200, { "content-type": metrics.registry.contentType })
      .end(await metrics.registry.metrics());
  }
  if (method === "GET" && parts.length === 1 && head === "status") {
    return json(res, 200, {
      models: [...service.models.values()].map((s) => statusOf(s, service)),
      errors: service.lastErrors,
    });
  }
  const bad = checkNames(parts.slice(1));
  if (bad) return json(res, 400, { error: bad });
  if (method === "GET" && head === "dash" && parts.length === 2) {
    const state = service.models.get(a!);
    if (!state) return json(res, 404, { error: `${a} not monitored` });
    return void res
      .writeHead(200, { "content-type": "text/html; charset=utf-8" })
      .end(renderDashboard(statusOf(state, service)));
  }
  if (method === "GET" && head === "metrics" && parts.length === 3) {
    const found = service.deploymentState(a!, b!);
    if (!found) return json(res, 404, { error: `Failed to read metrics: deployment ${a}/${b} is not monitored` });
    return void res
      .writeHead(200, { "content-type": "text/plain; version=0.0.4" })
      .end(replicasText(found.state.model, service.replicaUnits(found.state, found.deployment)));
  }
  if (head === "monitor" && parts.length === 3 && (method === "POST" || method === "DELETE")) {
    try {
      if (method === "DELETE") {
        await service.stop(a!, b!);
        return json(res, 200, { message: "Deployment optimization stopped" });
      }
      const started = await service.start(a!, b!);
      return json(res, 200, {
        message: started ? "Deployment optimization started" : "Deployment optimization already started",
      });
    } catch (err) {
      const verb = method === "POST" ? "starting" : "stopping";
      return json(res, 500, { error: `Error ${verb} deployment optimization: ${(err as Error).message}` });
    }
  }
  if (method === "GET" && head === "update_profile" && parts.length === 2) {
    if (!service.models.has(a!)) return json(res, 404, { error: `${a} not monitored` });
    try {
      await service.loadProfiles();
      return json(res, 200, { message: `workload profile of ${a} updated` });
    } catch (err) {
      return json(res, 500, { error: `failed to update workload profile of ${a}: ${(err as Error).message}` });
    }
  }
  if (method === "POST" && head === "scale" && parts.length === 4) {
    const replicas = Number(c);
    if (!Number.isFinite(replicas) || replicas < 0) {
      return json(res, 400, { error: `replicas ${JSON.stringify(c)}: must be a number >= 0` });
    }
    const found = service.deploymentState(a!, b!);
    if (!found) return json(res, 500, { error: `Error scaling: deployment ${a}/${b} is not monitored` });
    found.state.overrides.set(`${a}/${b}`, replicas);
    return json(res, 200, { message: `Scaled to ${replicas}` });
  }
  return json(res, 404, { error: `no route ${method} ${new URL(req.url ?? "/", "http://x").pathname}` });
}

/** Starts the optimizer: loads the profiles (must succeed), runs a first round, serves the API, then loops. */
export async function startOptimizer(options: OptimizerOptions): Promise<RunningOptimizer> {
  const metrics = new OptimizerMetrics();
  const intervalSeconds = options.intervalSeconds ?? 10;
  const windowSeconds = options.windowSeconds ?? 240;
  if (!(intervalSeconds > 0)) throw new RangeError(`intervalSeconds ${intervalSeconds}: must be > 0`);
  if (!(windowSeconds >= intervalSeconds)) {
    throw new RangeError(`windowSeconds ${windowSeconds}: must be >= intervalSeconds (${intervalSeconds})`);
  }
  const service = new OptimizerService({
    ...options,
    intervalSeconds,
    windowSeconds,
    metricScale: options.metricScale ?? METRIC_SCALE,
    metrics,
    log: options.log ?? ((m) => console.error(`aibrix-ts optimizer: ${m}`)),
  });
  await service.loadProfiles();
  const { server } = createServer((req, res) => route(service, metrics, req, res));
  const host = options.host ?? "127.0.0.1";
  const port = await listen(server, options.port ?? 0, host);
  let running: Promise<void> = service.tick();
  const timer =
    options.autoTick === false
      ? undefined
      : setInterval(() => {
          running = running.then(() => service.tick());
        }, intervalSeconds * 1000);
  timer?.unref();
  await running;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    service,
    metrics,
    tick: (now) => (running = running.then(() => service.tick(now))),
    async close() {
      if (timer) clearInterval(timer);
      await running;
      await shutdown(server);
      await options.signal.close();
    },
  };
}
