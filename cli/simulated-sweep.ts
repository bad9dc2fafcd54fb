// Profiling points measured on the simulator's engine model in virtual time (no HTTP, no timers): exact, repeatable
// and fast, for calibrations of the simulator's GPU types and for what-if replays.
import { engineConfigFor, getCalibration } from "../simulator/calibrations.js";
import { runTrace, uniquePrompt, type TraceRequest } from "../simulator/offline.js";
import { percentiles, type SweepRow } from "../optimizer/profiling/cut.js";
import { achievedRate } from "../optimizer/profiling/sweep.js";

/** `count` Poisson arrivals at `rate` (seeded by the point) served by one simulated engine of `calibration`. */
export function simulatedPoint(
  calibration: string,
  input: number,
  output: number,
  rate: number,
  count: number,
): SweepRow {
  const config = engineConfigFor(getCalibration(calibration));
  let seed = (input * 31 + output * 17 + Math.round(rate * 1000)) >>> 0 || 1;
  const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const trace: TraceRequest[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    trace.push({ at, promptTokens: uniquePrompt(i, input), maxTokens: output });
    at += -Math.log(1 - random()) / rate;
  }
  const results = runTrace(config, trace).results;
  const done = results.filter((r) => Number.isFinite(r.e2e) && r.generated === output);
  const ends = done.map((r) => r.arrival + r.e2e).sort((a, b) => a - b);
  const span = ends.length > 1 ? ends.at(-1)! - ends[0]! : NaN;
  return {
    inputTokens: input,
    outputTokens: output,
    rate,
    achievedRate: achievedRate(rate, trace.at(-1)!.at, span, done.length, count),
    samples: done.length,
    arrivalSpan: trace.at(-1)!.at,
    failures: results.length - done.length,
    e2e: percentiles(done.map((r) => r.e2e)),
    ttft: percentiles(done.map((r) => r.ttft)),
    tpot: percentiles(
      done.filter((r) => r.itls.length > 0).map((r) => r.itls.reduce((a, b) => a + b, 0) / r.itls.length),
    ),
  };
}
