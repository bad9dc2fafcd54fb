import { atLeast, type ReadmeEntry } from "../lib/figures.js";

/** KPA against the HPA-style baseline on the same target: ≥ 33 % fewer direction changes. */
export const TARGETS = { oscillationReduction: atLeast(0.33) };

/** An SLO minute is one whose TTFT p90 (trace seconds, at the load client) is within this. */
export const TTFT_P90_BOUND_S = 2;

/** How many rounds the benchmark flagged as spoiled by machine load, and the busiest 1-min load average seen. */
function loadedNote(p: Record<string, unknown>): string {
  const flagged = (p.loaded_rounds as (string | null)[] | undefined)?.filter((r) => r !== null).length;
  const peaks = p.load1m_max_per_round as number[] | undefined;
  if (flagged === undefined || !peaks) return "";
  return `; ${flagged} of ${peaks.length} rounds flagged as loaded, 1-min load average up to ${Math.max(...peaks).toFixed(1)}`;
}

const entry: ReadmeEntry = {
  context: (r) => {
    const p = r.params;
    const legacy = p.engine_model !== undefined;
    if (legacy) return `${String(p.trace)}; a fluid model of the fleet, not engine pods; ${String(p.rounds)} seeds`;
    return (
      `${String(p.trace)}; engine-backed pods behind the router, ${String(p.startup_s)} s start-up, time ` +
      `compressed ${String(p.speedup)}× (windows and sync periods alike); KPA/APA by the controllers, an HPA-style ` +
      `baseline (the HPA's replica calculation on the same metrics and targets, run by the benchmark); ` +
      `${(p.metrics as string[] | undefined)?.join(" and ") ?? ""}; SLO: TTFT p90 ≤ ${String(p.ttft_p90_bound_s)} s per minute; arms side by ` +
      `side, medians of ${String(p.rounds)} rounds${loadedNote(p)}`
    );
  },
  figures: [
    { key: "oscillations_kpa", label: "direction changes KPA", digits: 0 },
    { key: "oscillations_apa", label: "APA", digits: 0 },
    { key: "oscillations_hpa", label: "HPA", digits: 0 },
    {
      key: "oscillation_reduction_kpa_vs_hpa",
      label: "reduction KPA",
      digits: 2,
      target: TARGETS.oscillationReduction,
    },
    { key: "slo_attainment_kpa", label: "SLO attainment KPA", digits: 3 },
    { key: "slo_attainment_apa", label: "APA", digits: 3 },
    { key: "slo_attainment_hpa", label: "HPA", digits: 3 },
    { key: "gpu_seconds_kpa", label: "GPU-seconds KPA" },
    { key: "gpu_seconds_apa", label: "APA" },
    { key: "gpu_seconds_hpa", label: "HPA" },
    { key: "reaction_s_kpa", label: "step to enough Ready KPA", unit: " s", digits: 0 },
    { key: "reaction_s_apa", label: "APA", unit: " s", digits: 0 },
    { key: "reaction_s_hpa", label: "HPA", unit: " s", digits: 0 },
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
    const spreads = ["oscillations", "slo_attainment", "gpu_seconds"]
      .map((k) => [k, s[`${k}_kpa_spread`], s[`${k}_apa_spread`], s[`${k}_hpa_spread`]] as const)
      .filter(([, a, b, c]) => a !== undefined && b !== undefined && c !== undefined)
      .map(([k, a, b, c]) => `${k.replace("_", " ")} ${a}/${b}/${c}`);
    if (spreads.length > 0) notes.push(`spread (max − min over rounds, KPA/APA/HPA): ${spreads.join(", ")}`);
    const loads = r.params.load1m_per_round as [number, number][] | undefined;
    const lag = r.params.event_loop_p99_ms_per_round as number[] | undefined;
    if (loads && lag) {
      // Every TTFT carries the load client's event-loop delay × the speedup: a round with a large one measured the
      // machine more than the autoscalers.
      const rounds = loads.map((l, i) => `${l[0]}→${l[1]} (event loop p99 ${lag[i]} ms)`);
      notes.push(`host load per round: ${rounds.join(", ")}`);
    }
    return notes;
  },
};
export default entry;
