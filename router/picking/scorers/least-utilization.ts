// least-utilization: lowest saturation (queue and KV usage against their thresholds).
import type { Candidate } from "../types.js";
import { lowerMetric } from "./lower-metric.js";
import { fixedScorer } from "../plugin.js";

/** Utilisation as saturation detectors define it: max(queue/5, kv/0.8); 1 = at threshold. */
export const leastUtilization = lowerMetric("least-utilization", (ep) => utilization(ep));

export function utilization(ep: Candidate): number | undefined {
  const { waiting, kvUsage } = ep.metrics;
  if (waiting === undefined && kvUsage === undefined) return undefined;
  return Math.max((waiting ?? 0) / 5, (kvUsage ?? 0) / 0.8);
}

export const plugin = fixedScorer(leastUtilization, "lowest saturation: max(queue/5, kv/0.8)");
