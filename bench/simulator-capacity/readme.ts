import { atMost, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { loopLagP99Ms: atMost(20) };

const entry: ReadmeEntry = {
  context: (r) => `profile ${String(r.params.profile)}, streams of up to ${String(r.params.maxTokensPerStream)} tokens`,
  figures: [
    { key: "concurrent_streams", label: "concurrent streams", digits: 0 },
    { key: "loop_lag_p99_ms", label: "event-loop lag p99", unit: " ms", digits: 1, target: TARGETS.loopLagP99Ms },
    { key: "chunks_per_second", label: "chunks/s", digits: 0 },
    { key: "failed_streams", label: "failed streams", digits: 0 },
  ],
};
export default entry;
