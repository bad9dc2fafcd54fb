// Calibration: for every engine calibration, the engine model's single-request TTFT and ITL and saturation throughputs
// against the published (or derived, as marked) figures each calibration was fitted to (target ±15%), and against
// published figures held out of the fit (target ±10%), measured the same way.
// Measured on the engine model in virtual time (simulator/offline.ts): the same scheduler, KV cache and step-time
// model the HTTP server runs, without wall-clock noise.
import type { TopLevelSpec } from "vega-lite";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { median } from "../lib/stats.js";
import { calibrations, engineConfigFor } from "../../simulator/calibrations.js";
import { measureFigureRun, saturationCount } from "./measure.js";

interface Row {
  /** "fitted": a figure the coefficients were fitted to; "holdout": a published figure left out of the fit. */
  set: "fitted" | "holdout";
  profile: string;
  figure: string;
  metric: string;
  shape: string;
  published: number;
  simulated: number;
  error_pct: number;
  kind: string;
  source: string;
  /** Saturation figures: mean sequences per step, preemptions, prompt tokens computed per prompt token sent. */
  mean_batch?: number;
  preemptions?: number;
  prefill_recompute_ratio?: number;
}

const TOLERANCE_PCT = 15;

const bench: Benchmark = {
  async run(ctx) {
    const rows: Row[] = [];
    for (const p of calibrations().values()) {
      const cfg = engineConfigFor(p);
      const figures = [
        ...p.figures.map((f) => ({ f, set: "fitted" as const })),
        ...(p.holdout ?? []).map((f) => ({ f, set: "holdout" as const })),
      ];
      for (const { f, set } of figures) {
        if (set === "holdout" && ctx.quick && f.promptTokens > 2048) continue;
        // Held-out figures are measured exactly as the fitted ones: same method, same request count.
        const { value: simulated, saturation } = measureFigureRun(cfg, f, ctx.quick);
        const error = ((simulated - f.value) / f.value) * 100;
        rows.push({
          set,
          profile: p.name,
          figure: f.id,
          metric: f.metric,
          shape: `${f.promptTokens}/${f.outputTokens}`,
          published: f.value,
          simulated,
          error_pct: error,
          kind: f.kind,
          source: f.source,
          ...(saturation && {
            mean_batch: saturation.meanBatch,
            preemptions: saturation.preemptions,
            prefill_recompute_ratio: saturation.prefillRecomputeRatio,
          }),
        });
        ctx.progress(
          `${p.name.padEnd(9)} ${f.metric.padEnd(13)} ${`${f.promptTokens}/${f.outputTokens}`.padEnd(10)} ` +
            `figure ${f.value.toString().padStart(8)}  simulated ${simulated.toFixed(2).padStart(9)}  ` +
            `error ${error.toFixed(2).padStart(6)}%  (${set}, ${f.kind})` +
            (saturation
              ? `  batch ${saturation.meanBatch.toFixed(0)}, ${saturation.preemptions} preemptions, ` +
                `prefill x${saturation.prefillRecomputeRatio.toFixed(2)}`
              : ""),
        );
      }
    }
    const fitted = rows.filter((r) => r.set === "fitted");
    const holdout = rows.filter((r) => r.set === "holdout");
    const absErr = (rs: Row[]) => rs.map((r) => Math.abs(r.error_pct)).sort((a, b) => a - b);
    const summary: Record<string, number> = {
      max_abs_error_pct: Math.max(...absErr(fitted)),
      figures: fitted.length,
      within_tolerance: fitted.filter((r) => Math.abs(r.error_pct) <= TOLERANCE_PCT).length,
      published_figures: fitted.filter((r) => r.kind === "published").length,
      holdout_figures: holdout.length,
      holdout_max_abs_error_pct: holdout.length ? Math.max(...absErr(holdout)) : NaN,
      holdout_median_abs_error_pct: median(absErr(holdout)),
      holdout_within_tolerance: holdout.filter((r) => Math.abs(r.error_pct) <= TOLERANCE_PCT).length,
    };
    for (const r of rows)
      summary[`${r.set === "holdout" ? "holdout_" : ""}${r.profile.replace(/-/g, "_")}_${r.figure}_error_pct`] =
        r.error_pct;
    return {
      params: {
        tolerance_pct: TOLERANCE_PCT,
        saturation_requests: Object.fromEntries(
          [...calibrations().values()].flatMap((p) =>
            [...p.figures, ...(p.holdout ?? [])]
              .filter((f) => f.metric === "output_tok_s")
              .map((f) => [`${p.name} ${f.id}`, saturationCount(engineConfigFor(p), ctx.quick, f)]),
          ),
        ),
        capacity_policy: "each figure's own (TensorRT-LLM's figures and those derived from them: guaranteed-no-evict)",
        method:
          "engine model in virtual time; TTFT: one request, 1 output token; ITL: one request, mean gap; " +
          "throughput: all requests at t=0 (the figure's published request count), under the figure's capacity policy, " +
          "output tokens / time the last finishes; the fit (fit.ts) never reads held-out figures",
      },
      summary,
      series: { rows },
    };
  },
  plot(result: BenchResult): TopLevelSpec {
    const rows = result.series.rows as Row[];
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: `Simulator calibration: error vs published figures (max |error| ${result.summary.max_abs_error_pct?.toFixed(2)}%, tolerance ±${TOLERANCE_PCT}%)`,
      width: 520,
      height: 420,
      layer: [
        {
          data: {
            values: rows.map((r) => ({
              ...r,
              label: `${r.profile} ${r.metric} ${r.shape}${r.set === "holdout" ? " (holdout)" : ""}`,
            })),
          },
          mark: "bar",
          encoding: {
            y: { field: "label", type: "nominal", title: null, sort: null, axis: { labelLimit: 320 } },
            x: {
              field: "error_pct",
              type: "quantitative",
              title: "simulated vs figure (%)",
              scale: { domain: [-25, 25], clamp: true },
            },
            color: { field: "set", type: "nominal", title: "figure" },
            tooltip: [
              { field: "published", type: "quantitative" },
              { field: "simulated", type: "quantitative", format: ".2f" },
              { field: "preemptions", type: "quantitative" },
              { field: "prefill_recompute_ratio", type: "quantitative", format: ".2f" },
              { field: "source", type: "nominal" },
            ],
          },
        },
        {
          data: { values: [{ x: -TOLERANCE_PCT }, { x: TOLERANCE_PCT }] },
          mark: { type: "rule", strokeDash: [4, 4], color: "red" },
          encoding: { x: { field: "x", type: "quantitative" } },
        },
      ],
    };
  },
};

export default bench;
