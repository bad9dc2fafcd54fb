// least-gpu-cache: lowest GPU KV-cache usage.
import { lowerMetric } from "./lower-metric.js";
import { fixedScorer } from "../plugin.js";

export const leastGpuCache = lowerMetric("least-gpu-cache", (ep) => ep.metrics.kvUsage);

export const plugin = fixedScorer(leastGpuCache, "lowest GPU KV-cache usage");
