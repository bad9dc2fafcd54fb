import { atMost, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { p99Ms: atMost(3) };

const entry: ReadmeEntry = {
  context: (r) => `${String(r.params.rate_rps)} req/s open loop over HTTPS, ${String(r.params.rounds)} rounds`,
  figures: [
    { key: "pod_mutation_p99_ms", label: "pod mutation p99", unit: " ms", digits: 1, target: TARGETS.p99Ms },
    { key: "cr_validation_p99_ms", label: "CR validation p99", unit: " ms", digits: 1, target: TARGETS.p99Ms },
    { key: "https_floor_p99_ms", label: "an empty HTTPS handler's p99", unit: " ms", digits: 1 },
    { key: "failed_requests", label: "failed requests", digits: 0 },
  ],
};
export default entry;
