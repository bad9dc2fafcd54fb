// The node agent's loop: probe, check, decide the marks, publish them when they change (and at least every refresh
// interval, so the extender sees a fresh report time). A probe that fails outright publishes nothing: the report
// goes stale and the extender's staleness bound takes the node out, which is the safe reading of silence.
import { assess, runChecks, type CheckOptions } from "./checks.js";
import { decideMarks, NO_MARKS, sameMarks, type Marks } from "./marks.js";
import type { ProbeBackend } from "./probe.js";
import { nodeView, type NodePublisher } from "./publish.js";
import { buildReport, type Report } from "./report.js";

export interface AgentLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DiagnosticsAgentOptions {
  nodeName: string;
  backend: ProbeBackend;
  checks: CheckOptions;
  publisher: NodePublisher;
  /** Time between probes. */
  intervalMs: number;
  /** How long a node or GPU must stay healthy before its mark clears. */
  stableMs: number;
  /** Longest time between publishes while nothing changes (keep it well under the extender's --stale-after). */
  refreshMs: number;
  /** One probe's time limit (upstream: 10 s). */
  probeTimeoutMs?: number;
  log: AgentLogger;
  now?: () => number;
}

export interface DiagnosticsAgent {
  /** Runs one probe-decide-publish round now. */
  tick(): Promise<void>;
  marks(): Marks;
  lastReport(): Report | undefined;
  stop(): Promise<void>;
}

export function startDiagnosticsAgent(opts: DiagnosticsAgentOptions): DiagnosticsAgent {
  const now = opts.now ?? Date.now;
  let marks: Marks = NO_MARKS;
  let report: Report | undefined;
  let publishedAt = -Infinity;
  let publishedMarks: Marks | undefined;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  async function round(): Promise<void> {
    let probe;
    try {
      probe = await opts.backend.probe(AbortSignal.timeout(opts.probeTimeoutMs ?? 10_000));
    } catch (err) {
      opts.log.warn({ err: (err as Error).message, backend: opts.backend.name }, "probe failed; nothing published");
      return;
    }
    const t = now();
    const results = runChecks(probe, opts.checks);
    report = buildReport(opts.nodeName, opts.backend.name, results, new Date(t));
    const next = decideMarks(marks, assess(results), t, opts.stableMs);
    if (!sameMarks(marks, next)) {
      opts.log.info(
        { node: next.node?.reason ?? null, devices: [...next.devices.keys()] },
        next.node || next.devices.size > 0 ? "accelerator marks changed" : "accelerator marks cleared",
      );
    }
    marks = next;
    const changed = publishedMarks === undefined || !sameMarks(publishedMarks, marks);
    if (!changed && t - publishedAt < opts.refreshMs) return;
    try {
      await opts.publisher.publish(nodeView(marks, new Date(t)), new Date(t));
      publishedAt = t;
      publishedMarks = marks;
    } catch (err) {
      opts.log.warn({ err: String(err), node: opts.nodeName }, "publishing node health failed; retrying next probe");
    }
  }

  const tick = () => (running = running.then(round));
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopped) return;
    void tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, opts.intervalMs);
    });
  };
  loop();
  return {
    tick,
    marks: () => marks,
    lastReport: () => report,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
