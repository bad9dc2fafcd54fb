import { atLeast, type ReadmeEntry } from "../lib/figures.js";

/** KPA against the HPA-style baseline on the same target: ≥ 33 % fewer direction changes. */
export const TARGETS = { oscillationReduction: atLeast(0.33) };

const entry: ReadmeEntry = {
  context: (r) =>
    `${String(r.params.trace)}; a fluid model of the fleet (not engine pods behind the router) with a ` +
    `${String((r.params.engine_model as { startupS?: number } | undefined)?.startupS)} s start-up; the controller's own ` +
    `KPA/APA decisions against an HPA-style baseline on the same target; medians of ${String(r.params.rounds)} seeds`,
  figures: [
    { key: "oscillations_kpa", label: "direction changes KPA", digits: 0 },
    { key: "oscillations_hpa", label: "HPA", digits: 0 },
    {
      key: "oscillation_reduction_kpa_vs_hpa",
      label: "reduction",
      digits: 2,
      target: TARGETS.oscillationReduction,
    },
    { key: "slo_attainment_kpa", label: "SLO attainment KPA", digits: 3 },
    { key: "slo_attainment_hpa", label: "HPA", digits: 3 },
    { key: "gpu_seconds_kpa", label: "GPU-seconds KPA" },
    { key: "gpu_seconds_hpa", label: "HPA" },
  ],
  notes: (r) => {
    const s = r.summary;
    const notes: string[] = [];
    if (s.slo_attainment_kpa !== undefined && s.slo_attainment_hpa !== undefined) {
      notes.push(
        `SLO attainment KPA − HPA ${(s.slo_attainment_kpa - s.slo_attainment_hpa).toFixed(3)} ` +
          `[≥ 0: ${s.slo_attainment_kpa >= s.slo_attainment_hpa ? "met" : "**MISSED**"}]`,
      );
    }
    if (s.gpu_seconds_kpa !== undefined && s.gpu_seconds_hpa !== undefined) {
      notes.push(`GPU-seconds KPA ≤ HPA [${s.gpu_seconds_kpa <= s.gpu_seconds_hpa ? "met" : "**MISSED**"}]`);
    }
    return notes;
  },
};
export default entry;
