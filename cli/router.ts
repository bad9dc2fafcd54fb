// `aibrix-ts router`: the OpenAI-compatible router in front of engines from a static file or from Kubernetes.
import { Option, type Command } from "commander";
import { loadRouterConfig } from "../router/config.js";
import { FileDiscovery } from "../router/discovery/static.js";
import type { Discovery } from "../router/discovery/types.js";
import { pickingHelp } from "../router/picking/help.js";
import { startRouter, type Router, type RouterOptions } from "../router/server.js";
import { flowControlFromFlags, type FlowControlFlags } from "../router/flow-control/from-flags.js";
import { closeOnSignal } from "./shutdown.js";
import { StaticKeys } from "../router/flow-control/auth/static-keys.js";
import { portFlag, renamedFlag } from "./flags.js";
import { reportProcessMetrics } from "./process-metrics.js";
import { WorkloadSignal } from "../router/metrics/workload-signal.js";
import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import {
  clusterMetricsText,
  perWorkerStateWarning,
  reportWorkerServing,
  workerSlot,
  startWorkerPool,
  workersFlag,
} from "./router-workers.js";

export interface RouterCommandOptions {
  endpoints?: string;
  kubernetes?: boolean;
  namespace?: string;
  kubeconfig?: string;
  config?: string;
  host: string;
  port: string;
  strategy?: string;
  logLevel: string;
  tokenizer?: string[];
  apiKeyFile?: string;
  prefixHashSeed?: string;
  workers?: string;
}

/** `--tokenizer MODEL=DIR` flags as a model → directory map; the error names the flag and the expected form. */
export function tokenizerFlags(values: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const at = v.indexOf("=");
    if (at <= 0 || at === v.length - 1) {
      throw new Error(`--tokenizer ${v}: expected MODEL=DIR (a served model name and its tokenizer.json directory)`);
    }
    out[v.slice(0, at)] = v.slice(at + 1);
  }
  return out;
}

/** Build router options from command-line flags (also used by tests). */
export async function routerOptionsFromFlags(o: RouterCommandOptions): Promise<RouterOptions> {
  if (!o.endpoints && !o.kubernetes) {
    throw new Error("--endpoints <file.yaml> or --kubernetes is required: say where the engines are");
  }
  if (o.endpoints && o.kubernetes) throw new Error("--endpoints and --kubernetes are exclusive: pick one source");
  const port = portFlag("port", o.port);
  const file = o.config ? await loadRouterConfig(o.config) : {};
  const discovery: Discovery = o.endpoints
    ? new FileDiscovery(o.endpoints, (err) =>
        console.error(`aibrix-ts router: keeping the last good endpoints: ${err.message}`),
      )
    : // Loaded only here: the Kubernetes client is most of what a router process would otherwise hold in memory.
      new (await import("../router/discovery/kubernetes.js")).KubernetesDiscovery({
        namespace: o.namespace,
        kubeconfig: o.kubeconfig,
      });
  return {
    ...file,
    defaultStrategy: o.strategy ?? file.defaultStrategy,
    host: o.host,
    port,
    discovery,
    logLevel: o.logLevel,
    tokenizers: { ...file.tokenizers, ...tokenizerFlags(o.tokenizer) },
    ...(o.prefixHashSeed !== undefined ? { prefixHashSeed: o.prefixHashSeed } : {}),
    ...(o.apiKeyFile ? { apiKeys: StaticKeys.fromFile(o.apiKeyFile) } : {}),
  };
}

export function registerRouter(program: Command): void {
  program
    .command("router")
    .description("serve the OpenAI-compatible API and route each request to the engine that will answer fastest")
    .option("--endpoints <file>", "static YAML file of endpoints (model, url, gpu, adapters)")
    .option("--kubernetes", "discover engine pods labelled model.aibrix.ai/name through the Kubernetes API")
    .option("--namespace <ns>", "with --kubernetes: only this namespace")
    .option("--kubeconfig <file>", "with --kubernetes: kubeconfig file")
    .option("--config <file>", "router YAML: defaultStrategy, pipelines, timeouts, retry, ejection")
    .option("--host <host>", "listen address", "0.0.0.0")
    .option("--port <port>", "listen port", "8888")
    .option("--strategy <expr>", 'default routing strategy, e.g. least-request or "prefix-cache:3,least-request:2"')
    .option("--log-level <level>", "pino log level", "info")
    .option(
      "--tokenizer <model=dir>",
      "a model's tokenizer files (tokenizer.json, tokenizer_config.json): kv-prefix then routes on the engines' own block keys (repeatable)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      "--prefix-hash-seed <seed>",
      "the engines' PYTHONHASHSEED, when they run with one (seeds vLLM's block hashes)",
    )
    .option(
      "--redis-url <url>",
      "share limits, fairness counters, users, the prefix index, vtc-basic and power-of-two state across replicas (default: $REDIS_URL)",
    )
    .option("--redis-fail-closed", "refuse (503) instead of serving with local limits while Redis is unreachable")
    .option("--auth <mode>", "off: the user header names the tenant; keys: Authorization: Bearer <API key> required")
    .option(
      "--api-key-file <file>",
      "gateway API keys, one a line (e.g. a mounted Secret): requests without one of them get 401",
    )
    .option("--flow-control-config <file>", "flow-control YAML: per-model rps/concurrency, fairness, saturation, users")
    .addOption(new Option("--admission-config <file>", "deprecated name of --flow-control-config").hideHelp())
    .option("--admin-port <port>", "users API, flow-control metrics and health (default 8890 when flow control is on)")
    .option("--admin-host <host>", "admin listen address (default 127.0.0.1; set $AIBRIX_ADMIN_TOKEN to protect it)")
    .addHelpText("after", pickingHelp())
    .option("--workers <n>", 'router processes sharing the port, to use several cores ("auto": one per CPU)', "1")
    .action(async (o: RouterCommandOptions & FlowControlFlags) => {
      const workers = workersFlag(o.workers ?? "1", availableParallelism());
      if (workers > 1 && cluster.isPrimary) return runWorkerPool(o, workers);
      await runRouter(o, workers);
    });
}

/** The primary of `--workers N`: checks the flags once, says what is per worker, and runs the pool. */
async function runWorkerPool(o: RouterCommandOptions & FlowControlFlags, workers: number): Promise<void> {
  await routerOptionsFromFlags(o);
  const redisUrl = o.redisUrl ?? process.env.REDIS_URL;
  const flowControl = Boolean(o.auth || renamedFlag(o, "admission-config", "flow-control-config", () => {}));
  const warning = perWorkerStateWarning(workers, redisUrl, flowControl || o.adminPort !== undefined);
  if (warning) console.error(`aibrix-ts router: ${warning}`);
  const pool = startWorkerPool({ workers, log: (line) => console.error(line) });
  closeOnSignal(() => pool.stop());
  try {
    await pool.ready;
  } catch (err) {
    await pool.stop();
    throw err;
  }
  console.error(`aibrix-ts router: ${workers} workers listening on port ${o.port} (primary pid ${process.pid})`);
}

/** One router process: the whole router, or one worker of a pool. */
async function runRouter(o: RouterCommandOptions & FlowControlFlags, workers: number): Promise<void> {
  const options = await routerOptionsFromFlags(o);
  const flowControlConfig = renamedFlag(o, "admission-config", "flow-control-config");
  const flow = await flowControlFromFlags({ ...o, flowControlConfig });
  const redisUrl = o.redisUrl ?? process.env.REDIS_URL;
  const workload = new WorkloadSignal({ redisUrl, onError: (e) => console.error(`workload signal: ${e.message}`) });
  const inPool = cluster.isWorker;
  const router: Router = await startRouter({
    ...options,
    flowControl: workload.wrap(flow?.flowControl.control),
    // Engines started with --api-key check the client's token, unless the router's own keys are in use.
    forwardAuthorization: o.auth !== "keys",
    ...(redisUrl ? { prefixSync: { redisUrl }, sharedPicking: { redisUrl } } : {}),
    ...(inPool
      ? {
          metricsText: clusterMetricsText,
          workerLabel: `worker ${workerSlot() ?? "?"} of ${workers}, pid ${process.pid}`,
        }
      : {}),
  });
  if (flow && !inPool) console.error(`aibrix-ts router: users API and flow-control metrics on ${flow.adminUrl}`);
  reportProcessMetrics(router.metrics.registry);
  workload.publishOn(router.metrics.registry);
  if (inPool) reportWorkerServing();
  else console.error(`aibrix-ts router listening on ${router.url}`);
  closeOnSignal(() => Promise.all([router.close(), workload.close()]).then(() => undefined));
}
