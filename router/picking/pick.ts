// Runs a pipeline: filters → weighted scorers (min-max normalised, NaN → 0, all equal → 1) → picker.
import type { Candidate, PickEnv, PickRequest, Pipeline, Scorer } from "./types.js";

export interface PickResult<C extends Candidate = Candidate> {
  endpoint?: C;
  /** Candidates left after filtering (0 → nothing can serve the request). */
  candidates: number;
}

/**
 * Pick one endpoint from `pool` (endpoints serving the model). Ejected endpoints and those in `exclude` are skipped;
 * if every endpoint is ejected they are used anyway (a fleet-wide ejection is more likely a router-side fault).
 */
export function pick<C extends Candidate>(
  pipeline: Pipeline,
  req: PickRequest,
  pool: readonly C[],
  env: PickEnv,
  exclude?: ReadonlySet<C>,
): PickResult<C> {
  let cands: C[] = [];
  let anyEjected = false;
  for (const ep of pool) {
    if (exclude?.has(ep)) continue;
    if (ep.isEjected(env.now)) anyEjected = true;
    else cands.push(ep);
  }
  if (cands.length === 0 && anyEjected) cands = pool.filter((ep) => !exclude?.has(ep));
  const timing = env.timing;
  for (const f of pipeline.filters) {
    if (cands.length === 0) break;
    const t0 = timing && performance.now();
    cands = f.filter(req, cands, env);
    if (timing) timing("filter", f.name, (performance.now() - t0!) / 1000);
  }
  const n = cands.length;
  if (n === 0) return { candidates: 0 };
  if (n === 1) {
    for (const { scorer } of pipeline.scorers) scorer.onPicked?.(req, cands[0]!, env);
    return { endpoint: cands[0], candidates: 1 };
  }
  const total = new Float64Array(n);
  const raw = new Float64Array(n);
  for (const { scorer, weight } of pipeline.scorers) {
    const t0 = timing && performance.now();
    scorer.score(req, cands, raw, env);
    if (timing) timing("scorer", scorer.name, (performance.now() - t0!) / 1000);
    addWeighted(scorer, weight, raw, total);
  }
  const t0 = timing && performance.now();
  const chosen = cands[pipeline.picker.choose(total)]!;
  if (timing) timing("picker", pipeline.picker.name, (performance.now() - t0!) / 1000);
  for (const { scorer } of pipeline.scorers) scorer.onPicked?.(req, chosen, env);
  return { endpoint: chosen, candidates: n };
}

/** Adds one scorer's scores to the totals: as they are when prescaled, else min-max normalised; NaN adds nothing. */
function addWeighted(scorer: Scorer, weight: number, raw: Float64Array, total: Float64Array): void {
  const n = total.length;
  if (scorer.prescaled) {
    for (let i = 0; i < n; i++) {
      const v = raw[i]!;
      if (v === v) total[i]! += weight * v;
    }
    return;
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = raw[i]!;
    if (v !== v) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Infinity) return; // no opinion at all: adds the same (nothing) to everyone
  const span = max - min;
  for (let i = 0; i < n; i++) {
    const v = raw[i]!;
    if (v !== v) continue;
    total[i]! += weight * (span === 0 ? 1 : (v - min) / span);
  }
}
