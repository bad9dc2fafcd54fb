import { atMost, type ReadmeEntry } from "../lib/figures.js";

/** Nothing grows after warm-up; no process stalls. */
export const TARGETS = { growthPct: atMost(10), lagP99Ms: atMost(100) };

const entry: ReadmeEntry = {
  context: (r) =>
    `router, webhooks and extender under steady mixed traffic for ${Number(r.params.durationS) / 60} min, each in its own process`,
  figures: [
    {
      key: "worst_heap_growth_pct",
      label: "worst heap growth after warm-up",
      unit: " %",
      digits: 1,
      target: TARGETS.growthPct,
    },
    { key: "worst_rss_growth_pct", label: "resident memory", unit: " %", digits: 1, target: TARGETS.growthPct },
    { key: "worst_lag_p99_ms", label: "worst event-loop lag p99", unit: " ms", digits: 1, target: TARGETS.lagP99Ms },
    { key: "router_unexpected_answers", label: "unexpected router answers", digits: 0 },
    { key: "webhook_errors", label: "webhook errors", digits: 0 },
    { key: "extender_errors", label: "extender errors", digits: 0 },
  ],
};
export default entry;
