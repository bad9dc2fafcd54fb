// Public surface of the scheduler extender.
export { startExtender, resolvePolicy, type ExtenderOptions, type ExtenderHandle, type ObjectRef } from "./server.js";
export { ClusterState, type ClusterFeed } from "./state.js";
export type { PodBinder, BindingRequest } from "./bind.js";
export type { PlacementWeights, PolicyOptions } from "./policy.js";
export * from "./wire.js";
