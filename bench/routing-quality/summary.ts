// From every point of every round to the curves (true medians over rounds, every round kept) and the comparisons the
// README quotes: our approximate prefix-cache against sglang-router's cache_aware at every rate of every workload.
import { median, spread } from "../lib/stats.js";
import { round } from "../router-common/loadgen.js";
import type { PointStats } from "./measure.js";
import {
  KV_PREFIX_LOAD,
  PREFIX_CACHE,
  PREFIX_CACHE_AIBRIX_GUARD,
  RANDOM,
  ROUTERS,
  SGLANG,
  VLLM,
  type WorkloadPlan,
} from "./plan.js";

/** The workload whose lightest rate shows each router's own delay (see lightLoadTailWallMs). */
const DELAY_WORKLOAD = "shared-prefix";

/** A router's figures at one rate of one workload: medians over rounds, with each round's TTFT p90. */
export interface CurvePoint {
  workload: string;
  router: string;
  rate: number;
  rounds: number;
  ttft_p50_s: number;
  ttft_p90_s: number;
  ttft_p99_s: number;
  /** Every round's TTFT p90, in round order, and their largest minus smallest. */
  ttft_p90_s_by_round: number[];
  ttft_p90_s_spread: number;
  output_tok_s: number;
  prefix_hit_rate: number;
  router_cpu_ms_per_req: number;
  errors: number;
}

/** One comparison at one rate: the other router's TTFT p90 over ours (≥ 1: ours no worse). */
export interface Comparison {
  workload: string;
  rate: number;
  ours: string;
  other: string;
  ours_ttft_p90_s: number;
  other_ttft_p90_s: number;
  other_over_ours: number;
  met: boolean;
}

const med = (xs: number[], digits = 4) => round(median(xs), digits);

export function curves(points: readonly PointStats[]): CurvePoint[] {
  const groups = new Map<string, PointStats[]>();
  for (const p of points) {
    const key = JSON.stringify([p.workload, p.router, p.rate]);
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  return [...groups.values()].map((g) => {
    const byRound = [...g].sort((a, b) => a.round - b.round);
    const p90s = byRound.map((p) => p.ttft_p90_s);
    return {
      workload: g[0]!.workload,
      router: g[0]!.router,
      rate: g[0]!.rate,
      rounds: g.length,
      ttft_p50_s: med(g.map((p) => p.ttft_p50_s)),
      ttft_p90_s: med(p90s),
      ttft_p99_s: med(g.map((p) => p.ttft_p99_s)),
      ttft_p90_s_by_round: p90s,
      ttft_p90_s_spread: round(spread(p90s), 4),
      output_tok_s: med(
        g.map((p) => p.output_tok_s),
        1,
      ),
      prefix_hit_rate: med(g.map((p) => p.prefix_hit_rate)),
      router_cpu_ms_per_req: med(
        g.map((p) => p.router_cpu_ms_per_req),
        3,
      ),
      errors: g.reduce((n, p) => n + p.errors, 0),
    };
  });
}

/** `other`'s TTFT p90 over `ours` at every rate of every workload where both ran. */
export function compare(cs: readonly CurvePoint[], ours: string, other: string): Comparison[] {
  const out: Comparison[] = [];
  for (const o of cs.filter((c) => c.router === ours)) {
    const t = cs.find((c) => c.router === other && c.workload === o.workload && c.rate === o.rate);
    if (!t) continue;
    const ratio = o.ttft_p90_s > 0 ? t.ttft_p90_s / o.ttft_p90_s : 0;
    out.push({
      workload: o.workload,
      rate: o.rate,
      ours,
      other,
      ours_ttft_p90_s: o.ttft_p90_s,
      other_ttft_p90_s: t.ttft_p90_s,
      other_over_ours: round(ratio, 3),
      // Equal medians meet "no worse"; the ratio is rounded for reading only.
      met: o.ttft_p90_s > 0 && o.ttft_p90_s <= t.ttft_p90_s,
    });
  }
  return out;
}

/** Summary keys: a router's name as a key ("aibrix-ts prefix-cache" → "prefix_cache"). */
export function routerKey(name: string): string {
  return name
    .replace(/^aibrix-ts /, "")
    .replace(/ cache_aware$/, "")
    .replace(/[^a-z0-9]+/gi, "_")
    .toLowerCase();
}

export const workloadKey = (name: string): string => name.replace(/[^a-z0-9]+/gi, "_");

const worst = (cs: readonly Comparison[]) => (cs.length > 0 ? Math.min(...cs.map((c) => c.other_over_ours)) : NaN);

export function summarise(
  points: readonly PointStats[],
  workloads: readonly WorkloadPlan[],
  speedup: number,
): { summary: Record<string, number>; curves: CurvePoint[]; comparisons: Record<string, Comparison[]> } {
  const cs = curves(points);
  const comparisons = {
    prefix_cache_vs_sglang_router: compare(cs, PREFIX_CACHE, SGLANG),
    prefix_cache_vs_vllm_router: compare(cs, PREFIX_CACHE, VLLM),
    kv_prefix_load_vs_sglang_router: compare(cs, KV_PREFIX_LOAD, SGLANG),
    prefix_cache_vs_random: compare(cs, PREFIX_CACHE, RANDOM),
    prefix_cache_vs_aibrix_guard: compare(cs, PREFIX_CACHE, PREFIX_CACHE_AIBRIX_GUARD),
  };
  const headline = comparisons.prefix_cache_vs_sglang_router;
  const summary: Record<string, number> = {
    prefix_cache_points: headline.length,
    prefix_cache_points_missed: headline.filter((c) => !c.met).length,
    prefix_cache_ttft_p90_x_sglang_router_worst: worst(headline),
    prefix_cache_ttft_p90_x_vllm_router_worst: worst(comparisons.prefix_cache_vs_vllm_router),
    kv_prefix_load_points_missed: comparisons.kv_prefix_load_vs_sglang_router.filter((c) => !c.met).length,
    kv_prefix_load_ttft_p90_x_sglang_router_worst: worst(comparisons.kv_prefix_load_vs_sglang_router),
    aibrix_guard_ttft_p90_x_prefix_cache_worst: worst(comparisons.prefix_cache_vs_aibrix_guard),
    aibrix_guard_points_better: comparisons.prefix_cache_vs_aibrix_guard.filter((c) => !c.met).length,
  };
  for (const w of workloads) {
    const k = workloadKey(w.name);
    summary[`${k}_prefix_cache_x_sglang_router_worst`] = worst(headline.filter((c) => c.workload === w.name));
    const top = comparisons.prefix_cache_vs_random.find(
      (c) => c.workload === w.name && c.rate === Math.max(...w.rates),
    );
    summary[`${k}_prefix_cache_x_random_top_rate`] = top?.other_over_ours ?? NaN;
  }
  for (const r of ROUTERS) {
    const mine = points.filter((p) => p.router === r.name);
    summary[`light_tail_wall_ms_${routerKey(r.name)}`] = lightLoadTailWallMs(cs, r.name, workloads, speedup);
    summary[`cpu_ms_per_req_${routerKey(r.name)}`] = mine.length
      ? med(
          mine.map((p) => p.router_cpu_ms_per_req),
          3,
        )
      : NaN;
  }
  summary.router_cpu_share_max = Math.max(...points.map((p) => p.router_cpu_share));
  summary.loadgen_cpu_share_max = Math.max(...points.map((p) => p.loadgen_cpu_share));
  summary.ttft_p90_s_spread_max = Math.max(...cs.map((c) => c.ttft_p90_s_spread));
  return { summary, curves: cs, comparisons };
}

/**
 * TTFT p90 less p50 at the lightest rate of shared-prefix, in wall-clock ms. There every tenant fits every engine and
 * every router finds the same hits, so placement does not spread TTFT and this tail is the router's own delay.
 * Simulated times count each wall-clock ms `speedup` times; this undoes that, so a reader can tell a router's delay
 * from its placement in the curves.
 */
function lightLoadTailWallMs(
  cs: readonly CurvePoint[],
  router: string,
  workloads: readonly WorkloadPlan[],
  speedup: number,
): number {
  const w = workloads.find((x) => x.name === DELAY_WORKLOAD);
  if (!w) return NaN;
  const lightest = Math.min(...w.rates);
  const c = cs.find((x) => x.router === router && x.workload === w.name && x.rate === lightest);
  return c ? round(((c.ttft_p90_s - c.ttft_p50_s) / speedup) * 1000, 1) : NaN;
}
