// APA (after Huo et al. 2023): scale by the ratio of the per-pod value to the target, with a dead band (the
// fluctuation tolerances) so small wobbles do not move replicas, and rate limits on each step. No panic mode.
import type { AutoscalerTuning } from "./annotations.js";
import { clampToBounds } from "./kpa.js";

export interface ApaInput {
  /** Per-pod value (mean across counted pods) over the stable window; undefined when no sample. */
  perPodValue: number | undefined;
  target: number;
  currentReplicas: number;
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
    const up = Math.min(Math.ceil(current * r), Math.ceil(tuning.maxScaleUpRate * current));
    return { desired: clamp(Math.max(current, up)), reason: "ScaleUp" };
  }
  if (r < 1 - tuning.scaleDownTolerance) {
    const down = Math.max(Math.ceil(current * r), Math.floor(current / tuning.maxScaleDownRate));
    return { desired: clamp(Math.min(current, down)), reason: "ScaleDown" };
  }
  return { desired: clamp(current), reason: "Stable" };
}
