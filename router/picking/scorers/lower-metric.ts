// Scorers that prefer the endpoint with the lower value of one scraped metric.
import type { Candidate, PickEnv, Scorer } from "../types.js";

/** Lower metric is better; stale or missing metric → no opinion. */
export function lowerMetric(name: string, read: (ep: Candidate, env: PickEnv) => number | undefined): Scorer {
  return {
    name,
    score(_req, cands, out, env) {
      for (let i = 0; i < cands.length; i++) {
        const ep = cands[i]!;
        const v = ep.metricsFresh(env.now, env.staleAfterMs) ? read(ep, env) : undefined;
        out[i] = v === undefined || !Number.isFinite(v) ? NaN : -v;
      }
    },
  };
}
