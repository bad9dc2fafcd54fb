import { atMost, formatNumber, type ReadmeEntry } from "../lib/figures.js";

/** Nothing grows after warm-up; no process stalls. */
export const TARGETS = { growthPct: atMost(10), lagP99Ms: atMost(100) };

const entry: ReadmeEntry = {
  context: (r) =>
    `${r.params.routerKvMix ? "two routers (least-request, the default; kv-prefix-load, the cache-heaviest)" : "router"}, ` +
    `webhooks and extender under steady mixed traffic for ${Number(r.params.durationS) / 60} min, each in its own process`,
  figures: [
    {
      key: "worst_heap_growth_pct",
      label: "worst heap growth after warm-up (heap left by full collections)",
      unit: " %",
      digits: 1,
      target: TARGETS.growthPct,
    },
    { key: "worst_rss_growth_pct", label: "resident memory", unit: " %", digits: 1, target: TARGETS.growthPct },
    { key: "worst_lag_p99_ms", label: "worst event-loop lag p99", unit: " ms", digits: 1, target: TARGETS.lagP99Ms },
    { key: "router_unexpected_answers", label: "unexpected router answers", digits: 0 },
    { key: "router_kv_errors", label: "kv-prefix-load router errors", digits: 0 },
    { key: "webhook_errors", label: "webhook errors", digits: 0 },
    { key: "extender_errors", label: "extender errors", digits: 0 },
  ],
  notes: (r) => {
    const processes = ["router", "router_kv", "webhooks", "extender"].filter(
      (p) => typeof r.summary[`${p}_heap_growth_pct`] === "number",
    );
    const each = processes.map((p) => {
      const at = (key: string) => formatNumber(r.summary[`${p}_${key}`] as number, 1);
      const live =
        typeof r.summary[`${p}_live_heap_end_mib`] === "number"
          ? `, ${formatNumber(r.summary[`${p}_live_heap_end_mib`] as number, 0)} MiB live at the end`
          : "";
      return `${p.replace("_", " ")} ${at("heap_growth_pct")} / ${at("rss_growth_pct")} %, lag ${at("lag_p99_max_ms")} ms${live}`;
    });
    return [`by process, heap / resident growth and worst lag p99: ${each.join("; ")}`];
  },
};
export default entry;
