// The trace and the time compression of the autoscaler-reaction benchmark. Everything here is in trace time (the
// seconds the trace describes); the run replays it `SPEEDUP` times faster, with every duration the autoscalers and
// engines see (simulator step times, start-up delay, sync periods, windows) divided by the same factor.
import { seededRandom } from "../../test/support/seeded-random.js";

/** Wall seconds are trace seconds / SPEEDUP: the simulator's speedup and the factor every duration is divided by. */
export const SPEEDUP = 5;

/** Image pull plus weight loading of an 8B model from a warm node cache: the pod is not Ready for this long. */
export const STARTUP_S = 90;

/** Product defaults, in trace seconds: the PodAutoscaler's tick, KPA/APA windows, the HPA's sync and cooldown. */
export const PRODUCT_DEFAULTS = {
  paSyncS: 10,
  paWarmUpS: 10,
  observeWindowS: 180,
  panicWindowS: 60,
  scaleDownCooldownS: 300,
  hpaSyncS: 15,
} as const;

/** Each engine runs two sequences at a time (`--max-num-seqs 2`); a request is a short prompt and 32 tokens. */
export const ENGINE = { maxNumSeqs: 2, maxTokens: 32, gpuProduct: "NVIDIA-L4" } as const;

/**
 * The metrics and per-pod targets every strategy scales on (several: the largest ask wins, in the controller as in
 * the HPA). Running sequences alone cannot show demand past `--max-num-seqs`; the queue behind them can.
 */
export const METRICS = [
  { name: "vllm:num_requests_running", targetPerPod: 1 },
  { name: "vllm:num_requests_waiting", targetPerPod: 1 },
] as const;

export const BOUNDS = { min: 1, max: 10 } as const;
/** Engine pods each arm's Deployment starts with, Ready before the prelude. */
export const INITIAL_REPLICAS = 2;

/** The step: 4× the steady rate from STEP.startS to STEP.endS. */
export const STEADY_RATE = 0.6;
export const STEP = { startS: 120, endS: 420, rate: 4 * STEADY_RATE } as const;
export const BURSTS = { startS: 840, periodS: 20, high: 3.5 * STEADY_RATE, low: 0.5 * STEADY_RATE } as const;
export const TRACE_S = 1080;

/**
 * Steady load before trace second 0, not measured. The autoscalers start at AUTOSCALERS_AT_S, 20 s into it once the
 * engines report load, and run through the longest memory any strategy keeps — a full observe window feeding a full
 * scale-down stabilisation window — so each arm meets the step from its own steady state, not from a transient of
 * its first minutes (a scale-up still held by the 300 s window would be headroom no steady fleet has).
 */
export const AUTOSCALERS_AT_S = -(PRODUCT_DEFAULTS.observeWindowS + PRODUCT_DEFAULTS.scaleDownCooldownS + 20);
export const PRELUDE_S = 20 - AUTOSCALERS_AT_S;

/**
 * Unloaded service time of one request on the L4 profile (b0 = 64.3 ms a step): a prefill step and 32 decode steps,
 * rounded up. Ready pods "enough" for the step are those whose sequences cover its offered concurrency, so that no
 * queue grows: ceil(rate × service / max-num-seqs).
 */
export const SERVICE_S = 2.2;
export const ENOUGH_FOR_STEP = Math.ceil((STEP.rate * SERVICE_S) / ENGINE.maxNumSeqs);

/** Requests per second at trace second t: steady → 4× step → back down → bursts alternating every 20 s. */
export function traceRate(t: number, random: () => number): number {
  if (t < STEP.startS) return STEADY_RATE;
  if (t < STEP.endS) return STEP.rate;
  if (t < BURSTS.startS) return STEADY_RATE;
  const high = Math.floor((t - BURSTS.startS) / BURSTS.periodS) % 2 === 0;
  return Math.max(0, (high ? BURSTS.high : BURSTS.low) + (random() - 0.5) * STEADY_RATE);
}

function poisson(lambda: number, random: () => number): number {
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

/**
 * Arrival times (trace seconds, ascending) of one seeded trace: Poisson counts per second, spread within it; from
 * −PRELUDE_S (steady) to `traceS`.
 */
export function arrivals(seed: number, traceS = TRACE_S): number[] {
  const random = seededRandom(seed);
  const out: number[] = [];
  for (let t = -PRELUDE_S; t < traceS; t++) {
    const n = poisson(traceRate(t, random), random);
    const within = Array.from({ length: n }, () => t + random()).sort((a, b) => a - b);
    out.push(...within);
  }
  return out;
}
