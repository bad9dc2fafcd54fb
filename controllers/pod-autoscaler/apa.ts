// APA (after Huo et al. 2023): scale by the ratio of the per-pod value to the target, with a dead band (the
// fluctuation tolerances) so small wobbles do not move replicas, and rate limits on each step. No panic mode.
// A scale-up sizes from the pods the value was measured on: upstream multiplies the ratio by the replicas the target
// asks for, so while new pods load weights the Ready ones still read as overloaded and every tick multiplies the
// fleet again (one saturated pod and a 90 s start-up took a steady load from 2 to 10 replicas).
import type { AutoscalerTuning } from "./annotations.js";
import { clampToBounds } from "./kpa.js";

export interface ApaInput {
  /** Per-pod value (mean across counted pods) over the stable window; undefined when no sample. */
  perPodValue: number | undefined;
  target: number;
  currentReplicas: number;
  /** Pods the value was measured on (Ready, warmed up); default currentReplicas. */
  readyPods?: number;
  bounds: { min: number; max: number };
  tuning: AutoscalerTuning;
}

export interface ApaDecision {
  desired: number;
  reason: string;
}

export function decideApa(input: ApaInput): ApaDecision {
  const { perPodValue: u, target, currentReplicas: current, tuning, bounds } = input;
  const clamp = (n: number) => clampToBounds(n, bounds, tuning.scaleToZero);
  if (u === undefined) return { desired: clamp(current), reason: "NoMetrics" };
  if (current === 0) return { desired: clamp(u > 0 ? 1 : 0), reason: u > 0 ? "ScaleUp" : "Stable" };
  const r = u / target;
  if (r > 1 + tuning.scaleUpTolerance) {
    const measured = Math.min(current, input.readyPods ?? current);
    const up = Math.min(Math.ceil(measured * r), Math.ceil(tuning.maxScaleUpRate * current));
    return { desired: clamp(Math.max(current, up)), reason: "ScaleUp" };
  }
  if (r < 1 - tuning.scaleDownTolerance) {
    const down = Math.max(Math.ceil(current * r), Math.floor(current / tuning.maxScaleDownRate));
    return { desired: clamp(Math.min(current, down)), reason: "ScaleDown" };
  }
  return { desired: clamp(current), reason: "Stable" };
}
