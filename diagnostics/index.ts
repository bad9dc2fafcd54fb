// The diagnostics deployable: `runDiagnoseOnce` for an operator at a node, `startDiagnostics` for the DaemonSet.
import { pino } from "pino";
import { loadKubeConfig } from "../kube/client.js";
import { startDiagnosticsAgent, type DiagnosticsAgent } from "./agent.js";
import { ALL_CHECKS, runChecks, type CheckName } from "./checks.js";
import { kernelLogXids } from "./kernel-log.js";
import { MockBackend } from "./mock.js";
import { NvidiaSmiBackend } from "./nvidia-smi.js";
import type { ProbeBackend } from "./probe.js";
import { KubeNodePublisher } from "./publish.js";
import { buildReport, type Report } from "./report.js";

export { formatTable, type Report } from "./report.js";
export type { DiagnosticsAgent } from "./agent.js";

export interface BackendOptions {
  /** A mock file (upstream's gpu_mock_conf.toml fields) instead of the hardware. */
  mockFile?: string | undefined;
  nvidiaSmi?: string | undefined;
  /** How far back an XID in the kernel log counts. */
  xidWindowMs?: number | undefined;
}

export interface DiagnoseOptions extends BackendOptions {
  nodeName: string;
  expectedCards?: number | undefined;
  skipChecks?: readonly CheckName[] | undefined;
}

export function buildBackend(opts: BackendOptions): ProbeBackend {
  if (opts.mockFile) return new MockBackend(opts.mockFile);
  return new NvidiaSmiBackend({
    binary: opts.nvidiaSmi,
    xids: kernelLogXids({ windowMs: opts.xidWindowMs ?? 15 * 60_000 }),
  });
}

/** `a,b` → check names; an unknown name is an error listing the known ones. */
export function parseCheckList(value: string): CheckName[] {
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const n of names) {
    if (!(ALL_CHECKS as readonly string[]).includes(n)) {
      throw new Error(`unknown check ${JSON.stringify(n)}; checks are ${ALL_CHECKS.join(", ")}`);
    }
  }
  return names as CheckName[];
}

/** One probe, one report; nothing is published. */
export async function runDiagnoseOnce(opts: DiagnoseOptions): Promise<Report> {
  const backend = buildBackend(opts);
  const probe = await backend.probe(AbortSignal.timeout(10_000));
  const results = runChecks(probe, { expectedCards: opts.expectedCards, skip: new Set(opts.skipChecks ?? []) });
  return buildReport(opts.nodeName, backend.name, results);
}

export interface StartDiagnosticsOptions extends DiagnoseOptions {
  kubeconfig?: string | undefined;
  intervalMs: number;
  stableMs: number;
  refreshMs: number;
  logLevel?: string;
}

/** The node agent: probes every interval and publishes the node's and each GPU's health on its Node. */
export function startDiagnostics(opts: StartDiagnosticsOptions): DiagnosticsAgent {
  const log = pino({ name: "aibrix-diagnostics", level: opts.logLevel ?? "info" });
  return startDiagnosticsAgent({
    nodeName: opts.nodeName,
    backend: buildBackend(opts),
    checks: { expectedCards: opts.expectedCards, skip: new Set(opts.skipChecks ?? []) },
    publisher: new KubeNodePublisher(loadKubeConfig(opts.kubeconfig), opts.nodeName),
    intervalMs: opts.intervalMs,
    stableMs: opts.stableMs,
    refreshMs: opts.refreshMs,
    log,
  });
}
