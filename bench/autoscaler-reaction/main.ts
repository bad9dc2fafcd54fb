// autoscaler-reaction: one trace (steady → 4× step → back down → bursty) replayed against a fluid model of an engine
// fleet with a 90 s start-up delay, for KPA and APA (the controller's own decideTick, product defaults) and a
// Kubernetes-HPA-style baseline on the same metric (in-flight requests per Ready replica) and target. Measured per
// strategy: SLO attainment (minutes whose arrival-weighted TTFT p90 is under the bound), GPU-seconds (replicas that
// exist, Ready or starting), seconds from the step to enough Ready replicas, and scale direction changes.
// Limits: the engines are a queueing model, not simulator pods behind the router; the decision code is the real one.
import type { TopLevelSpec } from "vega-lite";
import type { Benchmark, BenchContext, BenchResult } from "../lib/result.js";
import { FLEET, resize, seededRandom, step, STEP, traceRate, TRACE_S, type Fleet } from "./model.js";
import { controllerStrategy, hpaBaseline, TARGET_PER_POD, type Strategy } from "./strategies.js";

const TTFT_BOUND_S = 1;
/** The claim to beat: ≥ 33 % fewer direction changes than the HPA-style baseline. */
const OSCILLATION_REDUCTION_TARGET = 0.33;

interface Run {
  oscillations: number;
  sloAttainment: number;
  gpuSeconds: number;
  reactionS: number;
  timeline: { second: number; strategy: string; replicas: number; ready: number; ttft_s: number }[];
}

function p90(values: { ttft: number; weight: number }[]): number {
  const sorted = [...values].sort((a, b) => a.ttft - b.ttft);
  const total = sorted.reduce((s, v) => s + v.weight, 0);
  let seen = 0;
  for (const v of sorted) {
    seen += v.weight;
    if (seen >= 0.9 * total) return v.ttft;
  }
  return sorted[sorted.length - 1]?.ttft ?? 0;
}

function directionChanges(replicas: number[]): number {
  let last = 0;
  let changes = 0;
  for (let i = 1; i < replicas.length; i++) {
    const d = Math.sign(replicas[i]! - replicas[i - 1]!);
    if (d === 0) continue;
    if (last !== 0 && d !== last) changes++;
    last = d;
  }
  return changes;
}

function simulate(strategy: Strategy, seed: number): Run {
  const random = seededRandom(seed);
  const fleet: Fleet = { created: [-FLEET.startupS, -FLEET.startupS, -FLEET.startupS], backlog: 0 };
  const decisions: number[] = [fleet.created.length];
  const minutes = new Map<number, { ttft: number; weight: number }[]>();
  const timeline: Run["timeline"] = [];
  let gpuSeconds = 0;
  let reactionS = NaN;
  for (let t = 0; t < TRACE_S; t++) {
    const s = step(fleet, t, traceRate(t, random), random);
    // A sync reads what the engines report this second and resizes the fleet for the next.
    if (t % strategy.syncS === 0) {
      const want = strategy.decide({
        nowMs: t * 1000,
        replicas: fleet.created.length,
        ready: s.ready,
        perPod: s.inFlightPerPod,
      });
      if (want !== fleet.created.length) decisions.push(want);
      resize(fleet, want, t);
    }
    gpuSeconds += fleet.created.length;
    const minute = Math.floor(t / 60);
    if (!minutes.has(minute)) minutes.set(minute, []);
    minutes.get(minute)!.push({ ttft: s.ttftS, weight: s.arrivals });
    if (Number.isNaN(reactionS) && t >= STEP.startS && s.ready * FLEET.mu >= STEP.rate) reactionS = t - STEP.startS;
    if (t % 5 === 0)
      timeline.push({
        second: t,
        strategy: strategy.name,
        replicas: fleet.created.length,
        ready: s.ready,
        ttft_s: s.ttftS,
      });
  }
  const perMinute = [...minutes.values()].filter((m) => m.some((v) => v.weight > 0));
  const met = perMinute.filter((m) => p90(m) <= TTFT_BOUND_S).length;
  return {
    oscillations: directionChanges(decisions),
    sloAttainment: met / perMinute.length,
    gpuSeconds,
    reactionS: Number.isNaN(reactionS) ? STEP.endS - STEP.startS : reactionS,
    timeline,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const round = (v: number, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;

async function run(ctx: BenchContext): Promise<Omit<BenchResult, "name" | "date" | "machine">> {
  const rounds = ctx.quick ? 3 : 7;
  const strategies = { kpa: () => controllerStrategy("KPA"), apa: () => controllerStrategy("APA"), hpa: hpaBaseline };
  const summary: Record<string, number> = {};
  const series: Record<string, unknown> = {};
  for (const [name, make] of Object.entries(strategies)) {
    const runs = Array.from({ length: rounds }, (_, i) => simulate(make(), 1000 + i));
    ctx.progress(`${name}: ${rounds} rounds of ${TRACE_S} simulated seconds`);
    for (const [key, pick] of [
      ["oscillations", (r: Run) => r.oscillations],
      ["slo_attainment", (r: Run) => r.sloAttainment],
      ["gpu_seconds", (r: Run) => r.gpuSeconds],
      ["reaction_s", (r: Run) => r.reactionS],
    ] as const) {
      const values = runs.map(pick);
      summary[`${key}_${name}`] = round(median(values));
      summary[`${key}_${name}_spread`] = round(Math.max(...values) - Math.min(...values));
    }
    series[`timeline_${name}`] = runs[0]!.timeline;
  }
  const reduction = 1 - summary.oscillations_kpa! / Math.max(1, summary.oscillations_hpa!);
  summary.oscillation_reduction_kpa_vs_hpa = round(reduction);
  summary.target_met =
    reduction >= OSCILLATION_REDUCTION_TARGET &&
    summary.slo_attainment_kpa! >= summary.slo_attainment_hpa! &&
    summary.gpu_seconds_kpa! <= summary.gpu_seconds_hpa!
      ? 1
      : 0;
  return {
    params: {
      rounds,
      trace: "4 req/s 300 s → 16 req/s 300 s → 4 req/s 420 s → bursts 2/14 req/s every 20 s for 300 s",
      engine_model: { ...FLEET, note: "fluid queue; requests per second per Ready replica" },
      metric: "in-flight requests per Ready replica",
      target_per_pod: TARGET_PER_POD,
      ttft_p90_bound_s: TTFT_BOUND_S,
      target:
        "KPA: >= 33 % fewer direction changes than the HPA-style baseline, SLO attainment >= it, GPU-seconds <= it",
    },
    summary,
    series,
  };
}

function plot(result: BenchResult): TopLevelSpec {
  const s = result.summary;
  const values = ["kpa", "apa", "hpa"].flatMap((n) => result.series[`timeline_${n}`] as unknown[]);
  const chart = (field: string, title: string) => ({
    mark: { type: "line" as const },
    encoding: {
      x: { field: "second", type: "quantitative" as const, title: "simulated seconds" },
      y: { field, type: "quantitative" as const, title },
      color: { field: "strategy", type: "nominal" as const },
    },
    width: 560,
    height: 200,
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: `Direction changes KPA ${s.oscillations_kpa} vs HPA ${s.oscillations_hpa}; SLO ${s.slo_attainment_kpa} vs ${s.slo_attainment_hpa}; GPU-s ${s.gpu_seconds_kpa} vs ${s.gpu_seconds_hpa}${s.target_met ? "" : " (target missed)"}`,
    data: { values },
    vconcat: [chart("replicas", "replicas"), chart("ttft_s", "TTFT (s)")],
  } as TopLevelSpec;
}

const bench: Benchmark = { run, plot };
export default bench;
