import type { Command } from "commander";
import { startExtender } from "../extender/server.js";
import type { PlacementWeights } from "../extender/policy.js";
import { closeOnSignal } from "./shutdown.js";
import { objectRef, wholeNumberFlag } from "./flags.js";
import { reportProcessMetrics } from "./process-metrics.js";

interface ExtenderFlags {
  host: string;
  port: string;
  prefix: string;
  tlsCert?: string;
  tlsKey?: string;
  kubeconfig?: string;
  cluster: boolean;
  profiles?: string;
  profilesConfigmap?: string;
  recommendations?: string;
  recommendationsConfigmap?: string;
  gpuTypeLabel?: string;
  gpuResource: string;
  staleAfter: string;
  requireDiagnostics: boolean;
  requireProfile: boolean;
  weights: string;
  logLevel: string;
}

/** `cost=1,deficit=2,packing=0.5` → weights; unnamed terms keep their default. */
export function parseWeights(value: string): Partial<PlacementWeights> {
  const out: Partial<PlacementWeights> = {};
  for (const part of value.split(",").filter((p) => p.trim() !== "")) {
    const [k, v] = part.split("=").map((s) => s.trim());
    if (k !== "cost" && k !== "deficit" && k !== "packing") {
      throw new Error(`--weights: unknown term ${JSON.stringify(k)}; use cost, deficit and packing`);
    }
    const n = Number(v);
    if (v === undefined || v === "" || !Number.isFinite(n) || n < 0) {
      throw new Error(`--weights: ${k}=${v ?? ""} must be a number >= 0`);
    }
    out[k] = n;
  }
  return out;
}

export function registerExtender(program: Command): void {
  program
    .command("extender")
    .description("scheduler extender: filter, prioritize and bind model pods onto the right healthy GPUs")
    .option("--host <addr>", "listen address", "127.0.0.1")
    .option("--port <n>", "listen port (0 = any free port)", "8383")
    .option("--prefix <path>", "URL prefix of the verbs (scheduler config urlPrefix path)", "/scheduler")
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate")
    .option("--tls-key <file>", "PEM key for --tls-cert")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    .option("--no-cluster", "run without an API server (empty state, bind unavailable): for smoke tests")
    .option("--profiles <file>", "GPU profile document (YAML/JSON), hot-reloaded")
    .option("--profiles-configmap <ns/name>", "read the GPU profiles from this ConfigMap, hot-reloaded")
    .option("--recommendations <file>", "GPU optimizer's recommended mix (JSON), hot-reloaded")
    .option("--recommendations-configmap <ns/name>", "read the recommended mix from this ConfigMap")
    .option("--gpu-type-label <label>", "node label naming the GPU type, checked before nvidia.com/gpu.product")
    .option("--gpu-resource <name>", "extended resource that counts GPUs", "nvidia.com/gpu")
    .option("--stale-after <seconds>", "exclude nodes whose diagnostics report is older than this", "300")
    .option("--require-diagnostics", "exclude nodes with no diagnostics report at all", false)
    .option("--require-profile", "reject model pods whose model has no GPU profile", false)
    .option("--weights <terms>", "score weights, e.g. cost=1,deficit=1,packing=1", "")
    .option("--log-level <level>", "pino log level", "info")
    .action(async (flags: ExtenderFlags) => {
      if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new Error("--tls-cert and --tls-key go together");
      const server = await startExtender({
        host: flags.host,
        port: wholeNumberFlag("port", flags.port),
        prefix: flags.prefix,
        ...(flags.tlsCert && flags.tlsKey ? { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } } : {}),
        kubeconfig: flags.cluster ? flags.kubeconfig : false,
        profilesFile: flags.profiles,
        profilesConfigMap: objectRef("profiles-configmap", flags.profilesConfigmap),
        recommendationsFile: flags.recommendations,
        recommendationsConfigMap: objectRef("recommendations-configmap", flags.recommendationsConfigmap),
        policy: {
          gpuResource: flags.gpuResource,
          gpuTypeLabel: flags.gpuTypeLabel,
          staleAfterMs: wholeNumberFlag("stale-after", flags.staleAfter) * 1000,
          requireDiagnostics: flags.requireDiagnostics,
          requireProfile: flags.requireProfile,
          weights: { cost: 1, deficit: 1, packing: 1, ...parseWeights(flags.weights) },
        },
        logLevel: flags.logLevel,
      });
      reportProcessMetrics(server.metrics.registry);
      closeOnSignal(() => server.close());
    });
}
