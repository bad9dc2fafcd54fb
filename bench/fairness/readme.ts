import { atMost, formatNumber, type ReadmeEntry } from "../lib/figures.js";

function roundsText(rounds: unknown): string {
  return typeof rounds === "number" ? `medians of ${rounds} rounds` : "one round";
}

/** VTC's guarantee: two backlogged users' service differs by at most 2 U over any interval. */
export const TARGETS = { vtcMaxDifferenceU: atMost(2) };

const entry: ReadmeEntry = {
  context: (r) =>
    Array.isArray(r.params.scenarios)
      ? `unequal rates, mixed lengths, an on/off client and overload, ${Number(r.params.durationMs) / 1000} s each under FCFS, VTC and per-user RPM limits, ${roundsText(r.params.rounds)}`
      : `one heavy and three light users, ${String(r.params.offeredOverCapacity)}× capacity offered for ${Number(r.params.durationMs) / 1000} s`,
  figures: [
    { key: "light_user_share_vtc", label: "light users' share with VTC" },
    { key: "light_user_share_ideal_vtc", label: "ideal (their offered rate over what was served)" },
    { key: "served_over_capacity_vtc", label: "served over calibrated capacity" },
    { key: "light_user_share_fcfs", label: "with FCFS" },
    { key: "light_user_share_rpm", label: "with RPM limits" },
    {
      key: "vtc_max_difference_u_worst",
      label: "largest service difference between backlogged users with VTC, any workload",
      unit: " U",
      target: TARGETS.vtcMaxDifferenceU,
    },
    { key: "mixed_lengths_max_difference_u_vtc", label: "mixed lengths: VTC", unit: " U" },
    { key: "mixed_lengths_max_difference_u_fcfs", label: "FCFS", unit: " U" },
    { key: "mixed_lengths_max_difference_u_rpm", label: "RPM limits", unit: " U" },
    { key: "overload_jain_vtc", label: "overload, Jain's index: VTC" },
    { key: "overload_jain_fcfs", label: "FCFS" },
    { key: "light_latency_p90_ms_vtc", label: "light users' latency p90 with VTC", unit: " ms", digits: 0 },
    { key: "light_latency_p90_ms_fcfs", label: "with FCFS", unit: " ms", digits: 0 },
  ],
  notes: (r) => {
    if (!Array.isArray(r.params.scenarios))
      return ["no target declared; the service-difference bound is not checked by this benchmark"];
    const notes = [
      "U = max(longest prompt × 1, 2 × the most tokens 8 running requests hold), VTC's unit for a batching engine; service counted as it streams",
    ];
    if (typeof r.summary.vtc_max_difference_u_worst_spread === "number")
      notes.push(
        `spread over rounds (max − min): worst VTC difference ${formatNumber(Number(r.summary.vtc_max_difference_u_worst_spread))} U, light users' share with VTC ${formatNumber(Number(r.summary.light_user_share_vtc_spread))}, with FCFS ${formatNumber(Number(r.summary.light_user_share_fcfs_spread))}`,
      );
    const underloaded = Object.entries(r.summary)
      .filter(
        ([k, v]) => k.endsWith("_offered_over_served") === false && /_offered_over_served_/.test(k) && Number(v) < 1.2,
      )
      .map(([k]) => k.replace("_offered_over_served_", " under "));
    if (underloaded.length > 0)
      notes.push(
        `not overloaded (offered < 1.2× served), so these say little about the policy: ${underloaded.join(", ")}`,
      );
    return notes;
  },
};
export default entry;
