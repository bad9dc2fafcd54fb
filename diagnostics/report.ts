// The operator's view of one probe: a table for a terminal, JSON for a script.
import { assess, type CheckResult, type Status } from "./checks.js";

export interface Report {
  node: string;
  backend: string;
  time: string;
  overall: Status;
  /** The fatal fault that would taint the node, or null. */
  nodeFault: string | null;
  /** Device indices that would be handed out no more. */
  failingDevices: number[];
  results: CheckResult[];
}

export function buildReport(node: string, backend: string, results: CheckResult[], now = new Date()): Report {
  const a = assess(results);
  return {
    node,
    backend,
    time: now.toISOString(),
    overall: a.overall,
    nodeFault: a.nodeFault ? `${a.nodeFault.check}: ${a.nodeFault.message}` : null,
    failingDevices: [...a.failing.keys()].sort((x, y) => x - y),
    results,
  };
}

const MARK: Record<Status, string> = { healthy: "ok", warning: "WARN", unhealthy: "FAIL", unknown: "UNKNOWN" };

/** A fixed-width table, one row per check, then a verdict line. `onlyProblems` drops healthy rows. */
export function formatTable(report: Report, onlyProblems = false): string {
  const rows = report.results
    .filter((r) => !onlyProblems || r.status !== "healthy")
    .map((r) => [r.gpu === null ? "node" : String(r.gpu), r.check, MARK[r.status], r.message]);
  const header = ["GPU", "CHECK", "STATUS", "MESSAGE"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const verdict = report.nodeFault
    ? `node ${report.node}: UNHEALTHY (${report.nodeFault})`
    : report.failingDevices.length > 0
      ? `node ${report.node}: GPUs ${report.failingDevices.join(", ")} excluded`
      : `node ${report.node}: ${report.overall}`;
  return [line(header), ...rows.map(line), "", `${verdict} [${report.backend}, ${report.time}]`].join("\n") + "\n";
}
