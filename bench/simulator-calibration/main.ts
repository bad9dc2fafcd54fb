// Calibration: for every profile, the engine model's single-request TTFT, single-request ITL and saturation
// throughput against the published (or derived, as marked) figure each profile was fitted to; target ±15%.
// Measured on the engine model in virtual time (simulator/offline.ts): the same scheduler, KV cache and step-time
// model the HTTP server runs, without wall-clock noise.
import type { TopLevelSpec } from "vega-lite";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { engineConfigFor, profiles } from "../../simulator/profiles.js";
import { measureFigure, saturationCount } from "./measure.js";

interface Row {
  profile: string;
  figure: string;
  metric: string;
  shape: string;
  published: number;
  simulated: number;
  error_pct: number;
  kind: string;
  source: string;
}

const TOLERANCE_PCT = 15;

const bench: Benchmark = {
  async run(ctx) {
    const rows: Row[] = [];
    for (const p of profiles().values()) {
      const cfg = engineConfigFor(p);
      for (const f of p.figures) {
        const simulated = measureFigure(cfg, f, ctx.quick);
        const error = ((simulated - f.value) / f.value) * 100;
        rows.push({
          profile: p.name,
          figure: f.id,
          metric: f.metric,
          shape: `${f.promptTokens}/${f.outputTokens}`,
          published: f.value,
          simulated,
          error_pct: error,
          kind: f.kind,
          source: f.source,
        });
        ctx.progress(
          `${p.name.padEnd(9)} ${f.metric.padEnd(13)} ${`${f.promptTokens}/${f.outputTokens}`.padEnd(10)} ` +
            `figure ${f.value.toString().padStart(8)}  simulated ${simulated.toFixed(2).padStart(9)}  ` +
            `error ${error.toFixed(2).padStart(6)}%  (${f.kind})`,
        );
      }
    }
    const summary: Record<string, number> = {
      max_abs_error_pct: Math.max(...rows.map((r) => Math.abs(r.error_pct))),
      figures: rows.length,
      within_tolerance: rows.filter((r) => Math.abs(r.error_pct) <= TOLERANCE_PCT).length,
      published_figures: rows.filter((r) => r.kind === "published").length,
    };
    for (const r of rows) summary[`${r.profile.replace(/-/g, "_")}_${r.figure}_error_pct`] = r.error_pct;
    return {
      params: {
        tolerance_pct: TOLERANCE_PCT,
        saturation_requests: Object.fromEntries(
          [...profiles().values()].map((p) => [p.name, saturationCount(engineConfigFor(p), ctx.quick)]),
        ),
        method:
          "engine model in virtual time; TTFT: one request, 1 output token; ITL: one request, mean gap; " +
          "throughput: all requests at t=0, output tokens / time the last finishes",
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
      height: 260,
      layer: [
        {
          data: { values: rows.map((r) => ({ ...r, label: `${r.profile} ${r.metric}` })) },
          mark: "bar",
          encoding: {
            y: { field: "label", type: "nominal", title: null, sort: null },
            x: {
              field: "error_pct",
              type: "quantitative",
              title: "simulated vs figure (%)",
              scale: { domain: [-20, 20] },
            },
            color: { field: "kind", type: "nominal", title: "figure" },
            tooltip: [
              { field: "published", type: "quantitative" },
              { field: "simulated", type: "quantitative", format: ".2f" },
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
