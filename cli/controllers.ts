import type { Command } from "commander";
import { startControllers } from "../controllers/index.js";
import { portFlag, wholeNumberFlag } from "./flags.js";
import { reportHeapAfterFullGc } from "./process-metrics.js";
import { closeOnSignal } from "./shutdown.js";

interface ControllersFlags {
  controllers: string;
  kubeconfig?: string;
  leaderElect: boolean;
  leaderElectNamespace: string;
  leaderElectLeaseDuration: string;
  host: string;
  port: string;
  enableRuntimeSidecar: boolean;
  podAutoscalerSyncPeriod: string;
  podAutoscalerWarmUp: string;
  logLevel: string;
  kvcacheWatcherImage?: string;
}

export function registerControllers(program: Command): void {
  program
    .command("controllers")
    .description("run the controllers (model-adapter, pod-autoscaler) in one leader-elected process")
    .option(
      "--controllers <list>",
      'controllers to run: "*" for all, a comma list, "-name" to leave one out (e.g. "*,-kvcache")',
      "*",
    )
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    .option("--no-leader-elect", "run without leader election (only safe with one replica)")
    .option(
      "--leader-elect-namespace <ns>",
      "namespace of the leader Lease",
      process.env.POD_NAMESPACE ?? "aibrix-system",
    )
    .option("--leader-elect-lease-duration <seconds>", "how long a standby waits for a silent leader", "15")
    .option("--host <addr>", "address of /healthz, /readyz and /metrics", "0.0.0.0")
    .option("--port <n>", "port of /healthz, /readyz and /metrics", "8080")
    .option("--no-enable-runtime-sidecar", "load adapters directly on engines even where a runtime sidecar runs")
    .option("--pod-autoscaler-sync-period <seconds>", "how often each PodAutoscaler is evaluated", "10")
    .option(
      "--pod-autoscaler-warm-up <seconds>",
      "a pod Ready for less than this is not yet counted as capacity nor scraped",
      "10",
    )
    .option(
      "--kvcache-watcher-image <image>",
      "image the kvcache controller runs `aibrix-ts kvcache-watcher` from (default this release's image)",
    )
    .option("--log-level <level>", "pino log level", "info")
    .action(async (flags: ControllersFlags) => {
      const syncSeconds = wholeNumberFlag("pod-autoscaler-sync-period", flags.podAutoscalerSyncPeriod);
      if (syncSeconds < 1) throw new Error("--pod-autoscaler-sync-period must be at least 1 second");
      const leaseSeconds = wholeNumberFlag("leader-elect-lease-duration", flags.leaderElectLeaseDuration);
      if (leaseSeconds < 2) throw new Error("--leader-elect-lease-duration must be at least 2 seconds");
      const manager = await startControllers({
        controllers: flags.controllers,
        kubeconfig: flags.kubeconfig,
        leaderElection: flags.leaderElect
          ? {
              namespace: flags.leaderElectNamespace,
              leaseDurationMs: leaseSeconds * 1000,
              renewDeadlineMs: Math.round(leaseSeconds * 1000 * (2 / 3)),
              retryPeriodMs: Math.max(500, Math.round((leaseSeconds * 1000) / 7.5)),
            }
          : false,
        host: flags.host,
        port: portFlag("port", flags.port),
        logLevel: flags.logLevel,
        modelAdapter: { settings: { useSidecar: flags.enableRuntimeSidecar } },
        podAutoscaler: {
          settings: {
            tickMs: syncSeconds * 1000,
            warmUpMs: wholeNumberFlag("pod-autoscaler-warm-up", flags.podAutoscalerWarmUp) * 1000,
          },
        },
        kvCache: { watcherImage: flags.kvcacheWatcherImage },
      });
      // The manager registers prom-client's defaults on its own registry; the live-heap gauge is the command's.
      reportHeapAfterFullGc(manager.registry);
      console.error(`aibrix-ts controllers: probes and metrics on ${manager.url} (identity ${manager.identity})`);
      closeOnSignal(() => manager.close());
    });
}
