import { atLeast, atMost, formatNumber, routerSetupNotes, type Figure, type ReadmeEntry } from "../lib/figures.js";
import type { BenchResult } from "../lib/result.js";
import { PREFIX_CACHE, SGLANG } from "./plan.js";

export const TARGETS = {
  /** Points of the sweeps where our prefix-cache's TTFT p90 is above sglang-router cache_aware's: none. */
  pointsMissed: atMost(0),
  /** sglang-router's TTFT p90 over ours at a point: ours no worse. */
  ttftP90OverSglang: atLeast(1),
};

interface WorkloadParams {
  name: string;
  rates: number[];
}

interface ComparisonRow {
  workload: string;
  rate: number;
  ours_ttft_p90_s: number;
  other_ttft_p90_s: number;
  met: boolean;
}

const workloadKey = (name: string): string => name.replace(/[^a-z0-9]+/gi, "_");

function workloads(r: BenchResult): WorkloadParams[] {
  return Array.isArray(r.params.workloads) ? (r.params.workloads as WorkloadParams[]) : [];
}

/** Our prefix-cache against sglang-router at every point, as the result file compares them. */
function sglangComparisons(r: BenchResult): ComparisonRow[] {
  return (r.series.comparisons as Record<string, ComparisonRow[]> | undefined)?.prefix_cache_vs_sglang_router ?? [];
}

/** "shared-prefix 2/4/6.5/9: 0.12/0.15/0.4/3.1 s vs 0.13/…": ours and sglang-router's TTFT p90 along a sweep. */
function curveNote(r: BenchResult, w: WorkloadParams): string {
  const mine = sglangComparisons(r)
    .filter((c) => c.workload === w.name)
    .sort((a, b) => a.rate - b.rate);
  if (mine.length === 0) return `${w.name}: no comparison in the result file`;
  const s = (xs: number[]) => xs.map((x) => formatNumber(x, 2)).join("/");
  const misses = mine.filter((c) => !c.met).map((c) => `${c.rate}/s`);
  return (
    `${w.name} at ${mine.map((c) => c.rate).join("/")} req/s: TTFT p90 ${s(mine.map((c) => c.ours_ttft_p90_s))} s ` +
    `(sglang-router ${s(mine.map((c) => c.other_ttft_p90_s))} s)` +
    (misses.length ? ` — **missed** at ${misses.join(", ")}` : "")
  );
}

interface CurveRow {
  workload: string;
  router: string;
  rate: number;
  ttft_p90_s_by_round?: number[];
}

/**
 * Each missed point's TTFT p90 round by round, ours then sglang-router's: the curve's figure is a median over rounds,
 * and whether a miss stands out from the rounds' spread is for the reader to see.
 */
function missedByRoundNote(r: BenchResult): string[] {
  const curveRows = (r.series.curves as CurveRow[] | undefined) ?? [];
  const rounds = (router: string, c: ComparisonRow) =>
    curveRows
      .find((x) => x.router === router && x.workload === c.workload && x.rate === c.rate)
      ?.ttft_p90_s_by_round?.map((v) => formatNumber(v, 2))
      .join("/");
  const parts = sglangComparisons(r).flatMap((c) => {
    const ours = rounds(PREFIX_CACHE, c);
    const theirs = rounds(SGLANG, c);
    return c.met || !ours || !theirs ? [] : [`${c.workload} ${c.rate}/s ${ours} against ${theirs}`];
  });
  if (parts.length === 0) return [];
  return [`missed points' TTFT p90 by round (s; prefix-cache against sglang-router): ${parts.join("; ")}`];
}

function perWorkloadFigures(r: BenchResult): Figure[] {
  return workloads(r).map((w) => ({
    key: `${workloadKey(w.name)}_prefix_cache_x_sglang_router_worst`,
    label: `${w.name}`,
    unit: "×",
    target: TARGETS.ttftP90OverSglang,
  }));
}

/** Each router arm's key in the summary, and the name the README gives it. */
const ROUTER_LABELS: [string, string][] = [
  ["random", "random"],
  ["prefix_cache", "prefix-cache"],
  ["prefix_cache_aibrix_guard", "prefix-cache with AIBrix's guard"],
  ["kv_prefix_load", "kv-prefix-load"],
  ["sglang_router", "sglang-router"],
  ["vllm_router", "vllm-router"],
];

function cpuNote(r: BenchResult): string {
  // A router the result did not run is left out.
  const parts = ROUTER_LABELS.flatMap(([k, label]) => {
    const v = r.summary[`cpu_ms_per_req_${k}`];
    return typeof v === "number" ? [`${label} ${formatNumber(v, 2)}`] : [];
  });
  return `router CPU per request (ms, median over points): ${parts.join(", ")}; the busiest router used ${formatNumber(Number(r.summary.router_cpu_share_max), 2)} of a core, the load generator ${formatNumber(Number(r.summary.loadgen_cpu_share_max), 2)}`;
}

/** A result file from before the rate sweep (one shared-prefix rate): its figures answer other questions. */
const OLD_METHOD =
  "this result file predates the rate sweep over the fixed workloads: run `npm run bench -- routing-quality` to measure them";

const entry: ReadmeEntry = {
  context: (r) => {
    if (workloads(r).length === 0) return OLD_METHOD;
    const fleet = r.params.fleet as { replicas?: number; calibration?: string } | undefined;
    return (
      `${workloads(r).length} workloads (${workloads(r)
        .map((w) => w.name)
        .join(", ")}), ${String(Math.max(0, ...workloads(r).map((w) => w.rates.length)))} offered rates each, ` +
      `${String(fleet?.replicas)} simulated ${String(fleet?.calibration)} engines at ${String(r.params.speedup)}× real time, ` +
      `${String(r.params.measured_s)} s measured per point, ${String(r.params.rounds)} rounds, every router with its defaults`
    );
  },
  figures: [
    {
      key: "prefix_cache_points_missed",
      label: "prefix-cache TTFT p90 above sglang-router cache_aware's at",
      unit: " points",
      digits: 0,
      target: TARGETS.pointsMissed,
    },
    { key: "prefix_cache_points", label: "of", unit: "", digits: 0 },
    {
      key: "prefix_cache_ttft_p90_x_sglang_router_worst",
      label: "sglang-router's TTFT p90 over ours, worst point",
      unit: "×",
      target: TARGETS.ttftP90OverSglang,
    },
  ],
  notes: (r) => (workloads(r).length === 0 ? [] : sweepNotes(r)),
};

/** prefix-cache with AIBrix's load guard beside the default, in results that ran it. */
function aibrixGuardNote(r: BenchResult): string[] {
  const worstPoint = r.summary.aibrix_guard_ttft_p90_x_prefix_cache_worst;
  if (typeof worstPoint !== "number") return [];
  return [
    `prefix-cache with AIBrix's load guard (affinity set aside at a gap of 8 in flight): its TTFT p90 over the ` +
      `default's, lowest point ${formatNumber(worstPoint, 2)}× (below 1: faster there); faster than the default at ` +
      `${String(r.summary.aibrix_guard_points_better)} points`,
  ];
}

/** Each router's own delay at light load, in wall-clock time (results that record it). */
function lightTailNote(r: BenchResult): string[] {
  const parts = ROUTER_LABELS.flatMap(([k, label]) => {
    const v = r.summary[`light_tail_wall_ms_${k}`];
    return typeof v === "number" ? [`${label} ${formatNumber(v, 1)}`] : [];
  });
  if (parts.length === 0) return [];
  return [
    `each router's own delay: TTFT p90 less p50 at shared-prefix's lightest rate (every router finds the same hits ` +
      `there), in wall-clock ms (simulated ÷ ${String(r.params.speedup)}): ${parts.join(", ")}; the time compression ` +
      `counts such a delay ${String(r.params.speedup)} times in the simulated TTFTs above`,
  ];
}

function sweepNotes(r: BenchResult): string[] {
  return [
    `worst point per workload: ${perWorkloadFigures(r)
      .map((f) => {
        const v = r.summary[f.key];
        const ok = typeof v === "number" && v >= TARGETS.ttftP90OverSglang.value;
        return `${f.label} ${typeof v === "number" ? formatNumber(v, 2) : "?"}×${ok ? "" : " (**missed**)"}`;
      })
      .join(", ")}`,
    ...workloads(r).map((w) => curveNote(r, w)),
    ...missedByRoundNote(r),
    `vllm-router cache_aware's TTFT p90 over prefix-cache's, worst point ${formatNumber(Number(r.summary.prefix_cache_ttft_p90_x_vllm_router_worst), 2)}×`,
    ...aibrixGuardNote(r),
    `kv-prefix-load (needs engine KV events, which the peers' cache_aware does without): sglang-router's TTFT p90 over it, worst point ${formatNumber(Number(r.summary.kv_prefix_load_ttft_p90_x_sglang_router_worst), 2)}×, above it at ${String(r.summary.kv_prefix_load_points_missed)} points`,
    `random over prefix-cache at the top rate: ${workloads(r)
      .map(
        (w) =>
          `${w.name} ${formatNumber(Number(r.summary[`${workloadKey(w.name)}_prefix_cache_x_random_top_rate`]), 1)}×`,
      )
      .join(", ")}`,
    ...lightTailNote(r),
    cpuNote(r),
    `largest spread of a TTFT p90 over rounds ${formatNumber(Number(r.summary.ttft_p90_s_spread_max), 2)} s`,
    ...routerSetupNotes(r.params),
  ];
}

export default entry;
