// `aibrix-ts optimizer`: the GPU optimizer service (upstream AIBrix's gpu-optimizer API on port 8080).
import type { Command } from "commander";
import { Redis } from "ioredis";
import { loadKubeConfig } from "../kube/client.js";
import { KubeClient } from "../kube/request.js";
import { RECOMMENDATIONS_CONFIGMAP } from "../api/gpu-recommendation.js";
import { RedisTraceSource, RouterMetricsSource, type SignalSource } from "../optimizer/signal-sources.js";
import { startOptimizer } from "../optimizer/server.js";
import { closeOnSignal } from "./shutdown.js";
import { objectRef, portFlag, wholeNumberFlag } from "./flags.js";
import { reportProcessMetrics } from "./process-metrics.js";

interface OptimizerFlags {
  host: string;
  port: string;
  kubeconfig?: string;
  profiles?: string;
  profilesConfigmap?: string;
  recommendationsConfigmap: string;
  routerUrl?: string[];
  redisUrl?: string;
  gpuTypeLabel?: string;
  interval: string;
  window: string;
}

/** $REDIS_URL, or upstream's REDIS_HOST / REDIS_PORT. */
function redisFromEnv(): string | undefined {
  const env = process.env;
  if (env.REDIS_URL) return env.REDIS_URL;
  if (env.REDIS_HOST) return `redis://${env.REDIS_HOST}:${env.REDIS_PORT ?? "6379"}`;
  return undefined;
}

function signalSource(flags: OptimizerFlags, windowSeconds: number): SignalSource {
  const redisUrl = flags.redisUrl ?? redisFromEnv();
  if (flags.routerUrl?.length) return new RouterMetricsSource(flags.routerUrl);
  if (redisUrl) {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    redis.on("error", () => {}); // each round reports its own failure
    return new RedisTraceSource(redis, windowSeconds);
  }
  throw new Error("say where the workload signal is: --router-url <url> (repeatable) or --redis-url / $REDIS_URL");
}

export function registerOptimizer(program: Command): void {
  program
    .command("optimizer")
    .description(
      "GPU optimizer: the cheapest GPU mix per model that meets its SLO, for PodAutoscalers and the extender",
    )
    .option("--host <addr>", "listen address", "0.0.0.0")
    .option("--port <n>", "listen port", "8080")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    .option("--profiles <file>", "GPU profile document (YAML/JSON), read every round")
    .option("--profiles-configmap <ns/name>", "read the GPU profiles from this ConfigMap every round")
    .option(
      "--recommendations-configmap <ns/name>",
      "write the recommended mix here for the scheduler extender",
      `aibrix-system/${RECOMMENDATIONS_CONFIGMAP}`,
    )
    .option(
      "--router-url <url>",
      "read the workload signal from this router's /metrics (repeatable)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      "--redis-url <url>",
      "read upstream's trace keys from Redis (default: $REDIS_URL or $REDIS_HOST:$REDIS_PORT)",
    )
    .option("--gpu-type-label <label>", "node label naming the GPU type, checked before nvidia.com/gpu.product")
    .option("--interval <seconds>", "seconds between rounds", "10")
    .option("--window <seconds>", "sliding window over the workload signal", "240")
    .action(async (flags: OptimizerFlags) => {
      if (!flags.profiles && !flags.profilesConfigmap) {
        throw new Error(
          "--profiles <file> or --profiles-configmap <ns/name> is required: the optimizer solves from profiles",
        );
      }
      const windowSeconds = wholeNumberFlag("window", flags.window);
      const intervalSeconds = wholeNumberFlag("interval", flags.interval);
      if (intervalSeconds < 1) throw new Error("--interval must be at least 1 second");
      const kube = new KubeClient(loadKubeConfig(flags.kubeconfig));
      const optimizer = await startOptimizer({
        host: flags.host,
        port: portFlag("port", flags.port),
        kube,
        ...(flags.profiles ? { profilesFile: flags.profiles } : {}),
        ...(flags.profilesConfigmap
          ? { profilesConfigMap: objectRef("profiles-configmap", flags.profilesConfigmap)! }
          : {}),
        recommendationsConfigMap: objectRef("recommendations-configmap", flags.recommendationsConfigmap)!,
        signal: signalSource(flags, windowSeconds),
        ...(flags.gpuTypeLabel ? { gpuTypeLabel: flags.gpuTypeLabel } : {}),
        intervalSeconds,
        windowSeconds,
      });
      reportProcessMetrics(optimizer.metrics.registry);
      console.error(`aibrix-ts optimizer: listening on ${flags.host}:${optimizer.port}`);
      closeOnSignal(async () => {
        await optimizer.close();
        kube.close();
      });
    });
}
