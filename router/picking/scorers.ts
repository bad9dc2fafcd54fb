// The scorers' public names, one module per scorer under scorers/ (the registry, registry.ts, builds them by name).
export { lowerMetric } from "./scorers/lower-metric.js";
export { randomScorer } from "./scorers/random.js";
export { leastRequest } from "./scorers/least-request.js";
export { throughput } from "./scorers/throughput.js";
export { leastKvCache } from "./scorers/least-kv-cache.js";
export { leastGpuCache } from "./scorers/least-gpu-cache.js";
export { leastBusyTime } from "./scorers/least-busy-time.js";
export { leastUtilization, utilization } from "./scorers/least-utilization.js";
export { leastLatency } from "./scorers/least-latency.js";
export { powerOfTwo, powerOfTwoBy } from "./scorers/power-of-two.js";
export { decodeSessionId, encodeSessionId, fnv1a64, sessionAffinity } from "./scorers/session-affinity.js";
export {
  defaultPrefixScorerOptions,
  engineKeysFor,
  offloadedBlockWeightFor,
  type PrefixScorerOptions,
  type TierCosts,
} from "./scorers/prefix-affinity.js";
export { prefixCacheScorer } from "./scorers/prefix-cache.js";
export { kvPrefixScorer } from "./scorers/kv-prefix.js";
export { queueScorer } from "./scorers/queue.js";
export { loraAffinity } from "./scorers/lora-affinity.js";
export { vtcBasicScorer } from "./scorers/vtc-basic.js";
