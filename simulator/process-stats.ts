// Health of the process hosting simulators: event-loop delay and CPU time, for capacity checks
// (GET /admin/process). Process-wide: several simulators in one process share one event loop.
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

export interface ProcessStats {
  /** Event-loop delay since measuring started or was last reset, milliseconds. */
  loopLagP50Ms: number;
  loopLagP99Ms: number;
  loopLagMaxMs: number;
  /** Samples behind the percentiles. */
  loopLagSamples: number;
  /** CPU time used by the process since it started (user + system), seconds. */
  cpuSeconds: number;
  heapUsedBytes: number;
  /** Loop delay p99 since the previous `interval` read (for time series), milliseconds. */
  intervalLagP99Ms: number;
}

let histogram: IntervalHistogram | null = null;
let interval: IntervalHistogram | null = null;

const p99 = (h: IntervalHistogram) => (h.count > 0 ? h.percentile(99) / 1e6 : 0);

/**
 * Current figures; the first call starts measuring (1 ms resolution). `reset` starts a new window for the
 * loopLag* figures; `nextInterval` starts a new interval for intervalLagP99Ms.
 */
export function processStats(reset = false, nextInterval = false): ProcessStats {
  if (!histogram || !interval) {
    histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    interval = monitorEventLoopDelay({ resolution: 1 });
    interval.enable();
  }
  const h = histogram;
  const cpu = process.cpuUsage();
  const out: ProcessStats = {
    loopLagP50Ms: h.count > 0 ? h.percentile(50) / 1e6 : 0,
    loopLagP99Ms: p99(h),
    loopLagMaxMs: h.count > 0 ? h.max / 1e6 : 0,
    loopLagSamples: h.count,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    heapUsedBytes: process.memoryUsage().heapUsed,
    intervalLagP99Ms: p99(interval),
  };
  if (reset) h.reset();
  if (nextInterval) interval.reset();
  return out;
}
