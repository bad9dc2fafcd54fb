// least-gpu-cache: lowest GPU KV-cache usage.
import { lowerMetric } from "./lower-metric.js";

export const leastGpuCache = lowerMetric("least-gpu-cache", (ep) => ep.metrics.kvUsage);
