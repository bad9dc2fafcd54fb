import { atMost, formatNumber, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { errorPct: atMost(5), worstWindowPct: atMost(105), windowErrorPct: atMost(5) };

const entry: ReadmeEntry = {
  context: (r) =>
    `${String(r.params.replicas)} router replicas sharing Redis, median of ${String(r.params.rounds ?? 1)} rounds, ${String(r.params.offeredRps)} req/s offered against ${formatNumber(Number(r.params.rpm), 0)} RPM / ${formatNumber(Number(r.params.tpm), 0)} TPM`,
  figures: [
    { key: "rpm_error_pct", label: "RPM error", unit: " %", digits: 1, target: TARGETS.errorPct },
    { key: "tpm_error_pct", label: "TPM error", unit: " %", digits: 1, target: TARGETS.errorPct },
    {
      key: "rpm_worst_window_over_pct_worst_round",
      label: "worst of consecutive windows in the worst round, over-admitted RPM",
      unit: " %",
      digits: 1,
      target: TARGETS.windowErrorPct,
    },
    {
      key: "rpm_worst_window_under_pct_worst_round",
      label: "under",
      unit: " %",
      digits: 1,
      target: TARGETS.windowErrorPct,
    },
    {
      key: "tpm_worst_window_over_pct_worst_round",
      label: "over TPM",
      unit: " %",
      digits: 1,
      target: TARGETS.windowErrorPct,
    },
    {
      key: "tpm_worst_window_under_pct_worst_round",
      label: "under",
      unit: " %",
      digits: 1,
      target: TARGETS.windowErrorPct,
    },
    {
      key: "rpm_max_sliding_window_pct_worst_round",
      label: "worst sliding window in the worst round (% of the limit), RPM",
      unit: " %",
      digits: 1,
      target: TARGETS.worstWindowPct,
    },
    {
      key: "tpm_max_sliding_window_pct_worst_round",
      label: "TPM",
      unit: " %",
      digits: 1,
      target: TARGETS.worstWindowPct,
    },
    { key: "tpm_outputs_below_max_tokens_share", label: "TPM outputs shorter than max_tokens (refund path)" },
    { key: "requests_failed_worst_round", label: "failed requests (worst round)", digits: 0 },
    { key: "redis_outage_failed_requests_worst_round", label: "failed during a Redis outage (worst round)", digits: 0 },
  ],
};
export default entry;
