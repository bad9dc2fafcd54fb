// The shared API layer: one schema per custom resource, and everything derived from it.
export type { Problem } from "./problem.js";
export { formatProblem } from "./problem.js";
export type { KindDefinition, PrinterColumn } from "./kind.js";
export { apiVersionOf } from "./kind.js";
export { KINDS, kindInfo, kindByName } from "./registry.js";
export { validate, validateUpdate, warnings } from "./validate.js";
export { withDefaults } from "./defaults.js";
export { crdFor, crdManifests, crdFiles, type CustomResourceDefinition } from "./crd.js";
export { selectorMatches } from "./semantics.js";
export type { LabelSelector, Condition } from "./schema.js";
export {
  type ModelAdapter,
  type ModelAdapterSpec,
  ModelAdapterPhases,
  ADAPTER_ARTIFACT_SCHEMES,
} from "./kinds/model-adapter.js";
export {
  type PodAutoscaler,
  type PodAutoscalerSpec,
  type MetricSource,
  ScalingStrategies,
  MetricSourceTypes,
  DEFAULT_OBSERVE_WINDOW_SECONDS,
  DEFAULT_PANIC_WINDOW_SECONDS,
} from "./kinds/pod-autoscaler.js";
export { type RayClusterFleet, type RayClusterReplicaSet, DEFAULT_ROLLING_UPDATE } from "./kinds/ray-cluster.js";
export { type KVCache, kvCacheBackend, isSupportedBackend, DEFAULT_KVCACHE_IMAGE } from "./kinds/kv-cache.js";
export * from "./labels.js";
