import { atMost, formatNumber, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { p99Ms: atMost(3) };

/** Each arm's rounds, as the result's series holds them. */
type ArmRounds = Record<string, { p99: number }[]>;

const ARM_LABELS: Record<string, string> = {
  pod_mutation: "pod mutation",
  cr_validation: "CR validation",
  https_floor: "empty handler",
};

const entry: ReadmeEntry = {
  context: (r) => `${String(r.params.rate_rps)} req/s open loop over HTTPS, ${String(r.params.rounds)} rounds`,
  figures: [
    { key: "pod_mutation_p99_ms", label: "pod mutation p99", unit: " ms", digits: 1, target: TARGETS.p99Ms },
    { key: "cr_validation_p99_ms", label: "CR validation p99", unit: " ms", digits: 1, target: TARGETS.p99Ms },
    { key: "https_floor_p99_ms", label: "an empty HTTPS handler's p99", unit: " ms", digits: 1 },
    { key: "failed_requests", label: "failed requests", digits: 0 },
  ],
  notes: (r) => {
    const arms = (r.series.rounds ?? {}) as ArmRounds;
    const parts = Object.entries(ARM_LABELS)
      .filter(([arm]) => (arms[arm]?.length ?? 0) > 0)
      .map(([arm, label]) => `${label} ${arms[arm]!.map((x) => formatNumber(x.p99, 1)).join("/")}`);
    return parts.length > 0 ? [`p99 by round (ms): ${parts.join("; ")}`] : [];
  },
};
export default entry;
