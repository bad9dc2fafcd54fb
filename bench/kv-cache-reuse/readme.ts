import { atLeast, formatNumber, range, type ReadmeEntry } from "../lib/figures.js";
import type { BenchResult } from "../lib/result.js";
import type { RoundStats } from "./main.js";

export const TARGETS = {
  throughput: atLeast(1.5),
  ttftP50: atLeast(2),
  ttftP99: atLeast(2),
};

function rounds(r: BenchResult): RoundStats[] {
  return Array.isArray(r.series.rounds) ? (r.series.rounds as RoundStats[]) : [];
}

const entry: ReadmeEntry = {
  context: (r) => {
    const p = r.params;
    const shape = p.shape as Record<string, number> | undefined;
    return (
      `${String(shape?.documents)} shared documents and ${String(shape?.conversations)} ${String(shape?.turns)}-turn ` +
      `conversations, ${String(p.workingSetOverFleetGpuKv)}× the fleet's GPU KV, from ${String(p.users)} users ` +
      `through our router (${String(p.router)}) to ${String(p.replicas)} simulated ${String(p.profile)} engines; ` +
      `GPU prefix caching alone vs a shared KV tier loaded at ${String(p.sharedTierGbps)} Gbit/s; ` +
      `${String(p.rounds)} round(s) of ${String(p.requestsPerRound)} ` +
      (p.warmupRequests ? `measured requests each, after ${String(p.warmupRequests)} warm-up ones` : "requests each")
    );
  },
  figures: [
    { key: "throughput_x_no_tier", label: "throughput", unit: "×", target: TARGETS.throughput },
    { key: "ttft_p50_x_no_tier", label: "TTFT p50 lower by", unit: "×", target: TARGETS.ttftP50 },
    { key: "ttft_p99_x_no_tier", label: "TTFT p99 lower by", unit: "×", target: TARGETS.ttftP99 },
    { key: "ttft_p99_repeat_x_no_tier", label: "TTFT p99 of requests a cache can serve lower by", unit: "×" },
    { key: "shared_tier_hit_rate", label: "prompt tokens loaded from the tier", digits: 2 },
  ],
  notes: (r) => {
    const s = r.summary;
    const rs = rounds(r);
    const of = (c: string, k: "throughput_rps" | "ttft_p50_s" | "ttft_p99_s") =>
      range(
        rs.filter((x) => x.config === c).map((x) => x[k]),
        2,
      );
    const notes = [
      `ratios are medians of per-round ratios, spread ${formatNumber(s.throughput_x_no_tier_spread ?? NaN)} / ` +
        `${formatNumber(s.ttft_p50_x_no_tier_spread ?? NaN)} / ${formatNumber(s.ttft_p99_x_no_tier_spread ?? NaN)}`,
      `prefix caching only: ${of("prefix-cache-only", "throughput_rps")} req/s, TTFT p50 ` +
        `${of("prefix-cache-only", "ttft_p50_s")} s, p99 ${of("prefix-cache-only", "ttft_p99_s")} s; shared tier: ` +
        `${of("shared-tier", "throughput_rps")} req/s, p50 ${of("shared-tier", "ttft_p50_s")} s, p99 ` +
        `${of("shared-tier", "ttft_p99_s")} s`,
    ];
    const perRound = Number(r.params.requestsPerRound);
    const firstTouches = range(
      rs.map((x) => x.first_touches),
      0,
    );
    if (firstTouches) {
      notes.push(
        r.params.warmupRequests
          ? `${firstTouches} of each round's ${String(perRound)} measured requests are still a document's or a ` +
              "conversation's first, which no cache can serve"
          : `each round starts cold: ${firstTouches} of its ${String(perRound)} requests are a document's or a ` +
              "conversation's first, which no cache can serve in either configuration — far more than the 1 % of " +
              "requests a p99 looks at",
      );
    }
    if ((s.errors ?? 0) > 0) notes.push(`**${String(s.errors)} request(s) failed** (reasons in the result's rounds)`);
    return notes;
  },
};
export default entry;
