// Runs a profile: filters → weighted scorers (min-max normalised, NaN → 0, all equal → 1) → picker.
import type { Endpoint } from "../endpoints.js";
import type { PickEnv, PickRequest, Profile } from "./types.js";

export interface PickResult {
  endpoint?: Endpoint;
  /** Candidates left after filtering (0 → nothing can serve the request). */
  candidates: number;
}

/**
 * Pick one endpoint from `pool` (endpoints serving the model). Ejected endpoints and those in `exclude` are skipped;
 * if every endpoint is ejected they are used anyway (a fleet-wide ejection is more likely a router-side fault).
 */
export function pick(
  profile: Profile,
  req: PickRequest,
  pool: readonly Endpoint[],
  env: PickEnv,
  exclude?: ReadonlySet<Endpoint>,
): PickResult {
  let cands: Endpoint[] = [];
  let anyEjected = false;
  for (const ep of pool) {
    if (exclude?.has(ep)) continue;
    if (ep.isEjected(env.now)) anyEjected = true;
    else cands.push(ep);
  }
  if (cands.length === 0 && anyEjected) cands = pool.filter((ep) => !exclude?.has(ep));
  for (const f of profile.filters) {
    if (cands.length === 0) break;
    cands = f.filter(req, cands, env);
  }
  const n = cands.length;
  if (n === 0) return { candidates: 0 };
  if (n === 1) {
    for (const { scorer } of profile.scorers) scorer.onPicked?.(req, cands[0]!, env);
    return { endpoint: cands[0], candidates: 1 };
  }
  const total = new Float64Array(n);
  const raw = new Float64Array(n);
  for (const { scorer, weight } of profile.scorers) {
    scorer.score(req, cands, raw, env);
    if (scorer.prescaled) {
      for (let i = 0; i < n; i++) {
        const v = raw[i]!;
        if (v === v) total[i]! += weight * v;
      }
      continue;
    }
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = raw[i]!;
      if (v !== v) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (min === Infinity) continue; // no opinion at all: adds the same (nothing) to everyone
    const span = max - min;
    for (let i = 0; i < n; i++) {
      const v = raw[i]!;
      if (v !== v) continue;
      total[i]! += weight * (span === 0 ? 1 : (v - min) / span);
    }
  }
  const chosen = cands[choose(profile.picker, total)]!;
  for (const { scorer } of profile.scorers) scorer.onPicked?.(req, chosen, env);
  return { endpoint: chosen, candidates: n };
}

/** Index of the winner; ties among the best are broken uniformly at random (reservoir sampling). */
function choose(picker: Profile["picker"], total: Float64Array): number {
  const n = total.length;
  if (picker === "random") return Math.floor(Math.random() * n);
  if (picker === "weighted-random") {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.max(0, total[i]!);
    if (sum > 0) {
      let r = Math.random() * sum;
      for (let i = 0; i < n; i++) {
        r -= Math.max(0, total[i]!);
        if (r <= 0) return i;
      }
    }
    return Math.floor(Math.random() * n);
  }
  let best = 0;
  let ties = 1;
  const eps = 1e-9;
  for (let i = 1; i < n; i++) {
    const d = total[i]! - total[best]!;
    if (d > eps) {
      best = i;
      ties = 1;
    } else if (d > -eps) {
      ties++;
      if (Math.random() * ties < 1) best = i;
    }
  }
  return best;
}
