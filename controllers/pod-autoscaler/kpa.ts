// KPA (after Knative): desired pods from a stable-window and a panic-window value of a metric TOTALLED across the
// counted pods, so ceil(total / per-pod target) is a pod count (the per-pod average there sizes any fleet to ~1).
// Pure: the panic memory lives in `KpaState`, passed in and returned, one per PodAutoscaler.
import type { AutoscalerTuning } from "./annotations.js";

export interface KpaState {
  /** When the panic trigger last fired; undefined while not panicking. */
  panicSinceMs: number | undefined;
  /** The highest pod count decided during this panic; desired never falls below it until panic ends. */
  maxPanicPods: number;
}

export const CALM: Readonly<KpaState> = Object.freeze({ panicSinceMs: undefined, maxPanicPods: 0 });

export interface KpaInput {
  nowMs: number;
  /** Total across counted pods, averaged over the stable window; undefined when the window holds no sample. */
  stableValue: number | undefined;
  /** The same over the panic window. */
  panicValue: number | undefined;
  /** Per-pod target. */
  target: number;
  /**
   * How long this metric has been observed (since the first sample this PodAutoscaler recorded for it). A stable
   * window that is not yet full is a guess, so no scale-down happens on it.
   */
  observedMs: number;
  /** Pods counted as capacity (Ready, not terminating, warmed up). */
  readyPods: number;
  /** Pods asked for and still on their way to capacity (loading within the start-up allowance, or warming up). */
  startingPods: number;
  /** Replicas the target asks for now (`/scale` spec). */
  currentReplicas: number;
  stableWindowMs: number;
  bounds: { min: number; max: number };
  tuning: AutoscalerTuning;
  state: KpaState;
}

export interface KpaDecision {
  desired: number;
  state: KpaState;
  panicking: boolean;
  reason: string;
}

/** ceil(V/T) unless V is inside the tolerance band around what the current pods are meant to carry. */
function podsFor(value: number, input: KpaInput): number {
  const { target, currentReplicas: current, tuning } = input;
  if (current > 0) {
    const ratio = value / (target * current);
    if (ratio <= 1 + tuning.scaleUpTolerance && ratio >= 1 - tuning.scaleDownTolerance) return current;
  }
  return Math.ceil(value / target);
}

/**
 * Growth per tick is limited to `maxScaleUpRate` times the pods that serve or are on their way (Knative counts only
 * Ready pods, so with minutes of LLM start-up 1 → 2 → 4 took two start-ups). The ask itself is ceil(total / target)
 * over Ready pods, so counting the starting ones cannot run away while they load; a pod stuck past the start-up
 * allowance, unschedulable or crashing stops counting, and the limit falls back to the Ready pods.
 * A fall is limited from the replicas that exist; neither limit may move replicas the other way — a fleet of mostly
 * warming-up pods must not be cut because few are Ready yet.
 */
function clampToRates(pods: number, input: KpaInput): number {
  const current = input.currentReplicas;
  const growingFrom = Math.max(1, input.readyPods + input.startingPods);
  const maxUp = Math.max(1, current, Math.ceil(input.tuning.maxScaleUpRate * growingFrom));
  const maxDown = Math.floor(current / input.tuning.maxScaleDownRate);
  return Math.min(maxUp, Math.max(maxDown, pods));
}

export function clampToBounds(pods: number, bounds: { min: number; max: number }, scaleToZero: boolean): number {
  const floor = scaleToZero ? bounds.min : Math.max(1, bounds.min);
  return Math.max(Math.min(floor, bounds.max), Math.min(bounds.max, pods));
}

/** Over the threshold only with real load: no traffic at all is calm, not an infinite ratio. */
function overPanicThreshold(stable: number, panic: number, threshold: number): boolean {
  if (!(panic > 0)) return false;
  return stable <= 0 || panic / stable > threshold;
}

/**
 * Outside panic the stable window decides, but a fall is held to what the panic window's load still needs: a 180 s
 * average that has just dropped below the fleet (a burst ended, or a lull inside a bursty phase) must not cut pods
 * the last minute's load is using. A fall on a window not yet observed in full (a new PodAutoscaler, a restarted
 * controller) waits for the window: ten seconds of a quiet fleet are no evidence that it is too large.
 */
function guardScaleDown(dStable: number, dPanic: number, input: KpaInput): number {
  const current = input.currentReplicas;
  if (dStable >= current) return dStable;
  if (input.observedMs < input.stableWindowMs) return current;
  return Math.max(dStable, Math.min(current, dPanic));
}

/** One KPA tick: the desired replicas within bounds, and the panic state to pass to this PodAutoscaler's next tick. */
export function decideKpa(input: KpaInput): KpaDecision {
  const { stableValue, panicValue, nowMs, state, tuning, bounds } = input;
  if (stableValue === undefined) {
    const held = clampToBounds(input.currentReplicas, bounds, tuning.scaleToZero);
    return { desired: held, state, panicking: state.panicSinceMs !== undefined, reason: "NoMetrics" };
  }
  const panic = panicValue ?? stableValue;
  const dStable = clampToRates(podsFor(stableValue, input), input);
  const dPanic = clampToRates(podsFor(panic, input), input);
  let panicSinceMs = state.panicSinceMs;
  let maxPanicPods = state.maxPanicPods;
  if (overPanicThreshold(stableValue, panic, tuning.panicThreshold)) {
    if (panicSinceMs === undefined) maxPanicPods = input.currentReplicas;
    panicSinceMs = nowMs;
  } else if (panicSinceMs !== undefined && nowMs - panicSinceMs >= input.stableWindowMs) {
    panicSinceMs = undefined;
    maxPanicPods = 0;
  }
  const panicking = panicSinceMs !== undefined;
  let desired = guardScaleDown(dStable, dPanic, input);
  if (panicking) {
    desired = Math.max(dStable, dPanic, maxPanicPods);
    maxPanicPods = desired;
  }
  desired = clampToBounds(desired, bounds, tuning.scaleToZero);
  const current = input.currentReplicas;
  const reason = panicking ? "Panic" : desired > current ? "ScaleUp" : desired < current ? "ScaleDown" : "Stable";
  return { desired, state: { panicSinceMs, maxPanicPods }, panicking, reason };
}
