import { atMost, formatNumber, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { errorPct: atMost(5), worstWindowPct: atMost(105), windowErrorPct: atMost(5) };

const entry: ReadmeEntry = {
  context: (r) =>
    `${String(r.params.replicas)} router replicas sharing Redis, ${String(r.params.offeredRps)} req/s offered against ${formatNumber(Number(r.params.rpm), 0)} RPM / ${formatNumber(Number(r.params.tpm), 0)} TPM`,
  figures: [
    { key: "rpm_error_pct", label: "RPM error", unit: " %", digits: 1, target: TARGETS.errorPct },
    { key: "tpm_error_pct", label: "TPM error", unit: " %", digits: 1, target: TARGETS.errorPct },
    {
      key: "rpm_worst_window_over_pct",
      label: "worst of consecutive windows, over-admitted RPM",
      unit: " %",
      digits: 1,
      target: TARGETS.windowErrorPct,
    },
    { key: "rpm_worst_window_under_pct", label: "under", unit: " %", digits: 1, target: TARGETS.windowErrorPct },
    { key: "tpm_worst_window_over_pct", label: "over TPM", unit: " %", digits: 1, target: TARGETS.windowErrorPct },
    { key: "tpm_worst_window_under_pct", label: "under", unit: " %", digits: 1, target: TARGETS.windowErrorPct },
    {
      key: "rpm_max_sliding_window_pct",
      label: "worst sliding window (% of the limit), RPM",
      unit: " %",
      digits: 1,
      target: TARGETS.worstWindowPct,
    },
    {
      key: "tpm_max_sliding_window_pct",
      label: "TPM",
      unit: " %",
      digits: 1,
      target: TARGETS.worstWindowPct,
    },
    { key: "tpm_outputs_below_max_tokens_share", label: "TPM outputs shorter than max_tokens (refund path)" },
    { key: "requests_failed", label: "failed requests", digits: 0 },
    { key: "redis_outage_failed_requests", label: "failed during a Redis outage", digits: 0 },
  ],
};
export default entry;
