// least-kv-cache: lowest KV-cache usage, GPU plus CPU offload.
import { lowerMetric } from "./lower-metric.js";
import { fixedScorer } from "../plugin.js";

export const leastKvCache = lowerMetric("least-kv-cache", (ep) =>
  ep.metrics.kvUsage === undefined ? undefined : ep.metrics.kvUsage + (ep.metrics.cpuKvUsage ?? 0),
);

export const plugin = fixedScorer(leastKvCache, "lowest KV-cache usage, GPU plus CPU");
