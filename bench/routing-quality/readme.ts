import { atLeast, formatNumber, range, routerSetupNotes, type ReadmeEntry } from "../lib/figures.js";
import type { BenchResult } from "../lib/result.js";

export const TARGETS = {
  throughputOverRandom: atLeast(2),
  ttftP90OverRandom: atLeast(10),
  /** sglang-router's TTFT p90 over ours: ours no worse. */
  ttftP90OverSglang: atLeast(1),
};

interface Run {
  workload?: string;
  router?: string;
  ttft_p90_s?: number;
  ttft_p99_s?: number;
}

function perRound(r: BenchResult, workload: string, router: string, field: "ttft_p90_s" | "ttft_p99_s"): number[] {
  const runs = Array.isArray(r.series.runs) ? (r.series.runs as Run[]) : [];
  return runs
    .filter((x) => x.workload === workload && x.router === router && typeof x[field] === "number")
    .map((x) => x[field]!);
}

function thresholds(params: Record<string, unknown>): string {
  const o = params.prefix_cache_options as Record<string, unknown> | undefined;
  if (!o || typeof o !== "object") return "our router's prefix-cache options not recorded";
  const values = `imbalanceAbs ${String(o.imbalanceAbs)}, imbalanceRel ${String(o.imbalanceRel ?? "unset")}, stdDevFactor ${String(o.stdDevFactor)}`;
  return typeof o.given === "string"
    ? `our router ran its default prefix-cache options (${values})`
    : `our router ran prefix-cache with options given, not the product defaults (${values})`;
}

const entry: ReadmeEntry = {
  context: (r) => {
    const shared = r.params.shared as Record<string, unknown> | undefined;
    const kv = r.params.shared_cacheable_over_fleet_kv;
    return `shared prefix, ${String(shared?.tenants)} tenants at ${String(shared?.rate)} req/s offered to ${String(r.params.replicas)} simulated ${String(r.params.profile)} engines; prefixes fill ${String(kv)}× the fleet's KV`;
  },
  figures: [
    { key: "throughput_x_random", label: "throughput × random's", unit: "×", target: TARGETS.throughputOverRandom },
    {
      key: "ttft_p90_x_random",
      label: "TTFT p90 lower than random's by",
      unit: "×",
      digits: 1,
      target: TARGETS.ttftP90OverRandom,
    },
    {
      key: "ttft_p90_x_sglang_router",
      label: "lower than sglang-router cache_aware's by",
      unit: "×",
      target: TARGETS.ttftP90OverSglang,
    },
    {
      key: "ttft_p90_x_sglang_router_worst_round",
      label: "worst round pair",
      unit: "×",
      target: TARGETS.ttftP90OverSglang,
    },
    { key: "ttft_p90_s_spread", label: "our TTFT p90 spread over rounds", unit: " s" },
    { key: "throughput_x_sglang_router", label: "throughput × sglang-router's", unit: "×" },
    {
      key: "ttft_p90_over_no_router_ms",
      label: "TTFT p90 above the no-router reference (tenant-sharded)",
      unit: " ms",
      digits: 0,
    },
    {
      key: "prefix_cache_ttft_p90_x_random",
      label: "approximate prefix-cache alone: TTFT p90 lower than random's by",
      unit: "×",
      digits: 1,
    },
    {
      key: "uncongested_ttft_p90_x_sglang_router",
      label: "with room to spare, lower than sglang-router's by",
      unit: "×",
      target: TARGETS.ttftP90OverSglang,
    },
  ],
  notes: (r) => {
    const ours = perRound(r, "shared-prefix", "exact-prefix+load", "ttft_p90_s");
    const sglang = perRound(r, "shared-prefix", "sglang-router cache_aware", "ttft_p90_s");
    const roomy = (router: string) =>
      range(
        perRound(r, "shared-prefix-uncongested", router, "ttft_p99_s").map((s) => s * 1000),
        0,
        " ms",
      );
    const rounds: string[] = [];
    if (ours.length > 0)
      rounds.push(
        `TTFT p90 per round: ours (kv-prefix-load) ${range(ours, 2, " s")}, sglang-router ${range(sglang, 2, " s")}`,
      );
    if (roomy("exact-prefix+load"))
      rounds.push(
        `with room to spare, TTFT p99 per round: ours ${roomy("exact-prefix+load")}, sglang-router ${roomy("sglang-router cache_aware")}`,
      );
    return [
      `the headline strategy is ${String(r.params.ours)}: it needs engine KV events, unlike sglang-router's cache_aware`,
      ...rounds,
      `${formatNumber(Number(r.params.sharedRounds), 0)} rounds shared-prefix, one offered rate (no rate sweep)`,
      thresholds(r.params),
      ...routerSetupNotes(r.params),
    ];
  },
};
export default entry;
