import { hostname } from "node:os";
import type { Command } from "commander";
import { formatTable, parseCheckList, runDiagnoseOnce, startDiagnostics } from "../diagnostics/index.js";
import { wholeNumberFlag } from "./flags.js";
import { closeOnSignal } from "./shutdown.js";

interface DiagnoseFlags {
  once: boolean;
  output: string;
  problems: boolean;
  mock?: string;
  nvidiaSmi: string;
  expectedGpus?: string;
  skipChecks: string;
  xidWindow: string;
  nodeName?: string;
  kubeconfig?: string;
  interval: string;
  stablePeriod: string;
  refresh: string;
  logLevel: string;
}

export function registerDiagnose(program: Command): void {
  program
    .command("diagnose")
    .description(
      "accelerator diagnostics: probe the node's GPUs and publish their health on its Node (or --once: print)",
    )
    .option("--once", "probe once, print the report and exit (1 when a GPU or the node would be marked)", false)
    .option("-o, --output <format>", "report format with --once: table | json", "table")
    .option("--problems", "table: only rows that are not healthy", false)
    .option("--mock <file>", "read a fault-injection mock file (gpu_mock_conf.toml fields) instead of the hardware")
    .option("--nvidia-smi <path>", "nvidia-smi executable", "nvidia-smi")
    .option("--expected-gpus <n>", "cards the node should have (default: $GPU_CARD_COUNT)")
    .option("--skip-checks <names>", "comma-separated checks not to run", "")
    .option("--xid-window <seconds>", "how far back an XID in the kernel log counts", "900")
    .option("--node-name <name>", "the Node to publish on (default: $NODE_NAME)")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    .option("--interval <seconds>", "time between probes", "5")
    .option("--stable-period <seconds>", "healthy time before a node or GPU mark clears", "300")
    .option("--refresh <seconds>", "republish at least this often (under the extender's --stale-after)", "60")
    .option("--log-level <level>", "pino log level", "info")
    .action(async (flags: DiagnoseFlags) => {
      if (flags.output !== "table" && flags.output !== "json") {
        throw new Error(`--output ${JSON.stringify(flags.output)} must be table or json`);
      }
      const expected = flags.expectedGpus ?? process.env.GPU_CARD_COUNT;
      const common = {
        mockFile: flags.mock,
        nvidiaSmi: flags.nvidiaSmi,
        xidWindowMs: wholeNumberFlag("xid-window", flags.xidWindow) * 1000,
        expectedCards:
          expected === undefined || expected === "" ? undefined : wholeNumberFlag("expected-gpus", expected),
        skipChecks: parseCheckList(flags.skipChecks),
      };
      if (flags.once) {
        const report = await runDiagnoseOnce({
          ...common,
          nodeName: flags.nodeName ?? process.env.NODE_NAME ?? hostname(),
        });
        process.stdout.write(
          flags.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report, flags.problems),
        );
        process.exitCode = report.nodeFault || report.failingDevices.length > 0 ? 1 : 0;
        return;
      }
      const nodeName = flags.nodeName ?? process.env.NODE_NAME;
      if (!nodeName) throw new Error("--node-name (or $NODE_NAME, from the downward API) is required to publish");
      const agent = startDiagnostics({
        ...common,
        nodeName,
        kubeconfig: flags.kubeconfig,
        intervalMs: wholeNumberFlag("interval", flags.interval) * 1000,
        stableMs: wholeNumberFlag("stable-period", flags.stablePeriod) * 1000,
        refreshMs: wholeNumberFlag("refresh", flags.refresh) * 1000,
        logLevel: flags.logLevel,
      });
      closeOnSignal(() => agent.stop());
    });
}
