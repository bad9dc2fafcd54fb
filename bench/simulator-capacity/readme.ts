import { atMost, range, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { loopLagP99Ms: atMost(20) };

interface LevelRound {
  streams: number;
  round?: number;
  loopLagP99Ms: number;
}

const entry: ReadmeEntry = {
  context: (r) =>
    `profile ${String(r.params.profile)}, streams of up to ${String(r.params.maxTokensPerStream)} tokens` +
    (typeof r.params.rounds === "number" ? `, median of ${r.params.rounds} rounds` : ", one round"),
  figures: [
    { key: "concurrent_streams", label: "concurrent streams", digits: 0 },
    { key: "loop_lag_p99_ms", label: "event-loop lag p99", unit: " ms", digits: 1, target: TARGETS.loopLagP99Ms },
    { key: "chunks_per_second", label: "chunks/s", digits: 0 },
    { key: "failed_streams", label: "failed streams", digits: 0 },
  ],
  notes: (r) => {
    const levels = (r.series.levels ?? []) as LevelRound[];
    const top = Math.max(...levels.map((l) => l.streams));
    const rounds = levels.filter((l) => l.streams === top && l.round !== undefined);
    if (rounds.length < 2) return [];
    return [
      `event-loop lag p99 at ${top} streams over rounds ${range(
        rounds.map((l) => l.loopLagP99Ms),
        1,
        " ms",
      )}`,
    ];
  },
};
export default entry;
