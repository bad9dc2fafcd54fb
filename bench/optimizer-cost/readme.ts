import { atLeast, atMost, formatTarget, meets, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = {
  savingShort: atLeast(15),
  savingLong: atLeast(9),
  attainment: atLeast(0.99),
  solveMsP99: atMost(50),
};

const entry: ReadmeEntry = {
  context: (r) =>
    `two workload mixes over ${String((r.params.gpuTypes as string[] | undefined)?.join(", "))}, replayed in the ` +
    `what-if simulator on the optimizer's mix and on the cheapest single type meeting the same SLO; ` +
    `${String(r.params.rounds)} round(s) of ${String(r.params.secondsPerTrace)} s per mix`,
  figures: [
    // Savings are judged in the notes: one counts only where the optimizer's mix met the SLO.
    { key: "cost_saving_pct_short", label: "saving on short chat", unit: " %" },
    { key: "cost_saving_pct_long", label: "on long context", unit: " %" },
    { key: "slo_attainment_optimizer", label: "the optimizer's SLO attainment", digits: 3, target: TARGETS.attainment },
    { key: "solve_ms_p99", label: "solve p99 (6 types × 64 buckets)", unit: " ms", target: TARGETS.solveMsP99 },
  ],
  notes: (r) => {
    const notes: string[] = [];
    const targets = { short: TARGETS.savingShort, long: TARGETS.savingLong };
    for (const mix of ["short", "long"] as const) {
      const saving = r.summary[`cost_saving_pct_${mix}`];
      const attained = r.summary[`slo_attainment_optimizer_${mix}`];
      if (saving === undefined || attained === undefined) continue;
      const counts = attained >= TARGETS.attainment.value;
      const met = counts && meets(saving, targets[mix]);
      notes.push(
        `${mix} mix saving [${formatTarget(targets[mix], " %")}: ${met ? "met" : "**MISSED**"}]` +
          (counts
            ? ""
            : ` — it does not count: the optimizer's mix met the SLO for ${(attained * 100).toFixed(1)} % of its requests`),
      );
    }
    const spread = (mix: string) => {
      const lo = r.summary[`cost_saving_pct_${mix}_min`];
      const hi = r.summary[`cost_saving_pct_${mix}_max`];
      return lo === undefined || hi === undefined ? undefined : `${lo.toFixed(1)}–${hi.toFixed(1)} %`;
    };
    const short = spread("short");
    const long = spread("long");
    if (short && long) notes.push(`savings over rounds: short ${short}, long ${long}`);
    for (const mix of ["short", "long"] as const) {
      const plan = r.summary[`published_plan_cost_${mix}`];
      const fleet = r.summary[`fleet_cost_${mix}`];
      if (plan === undefined || fleet === undefined) continue;
      notes.push(
        `${mix} mix: published plan $${plan.toFixed(2)}/h, run by the PodAutoscalers as $${fleet.toFixed(2)}/h`,
      );
    }
    return notes;
  },
};
export default entry;
