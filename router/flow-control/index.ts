// Public face of flow control: one constructor and its configuration.
export { createFlowControl, type FlowControlService, type FlowControlConfig } from "./create.js";
export type { AuthMode } from "./auth/authenticate.js";
export type { RedisFailureMode } from "./limits/backend.js";
export type { LimitsConfig, ModelLimits } from "./limits/limiter.js";
export type { FairQueueOptions, QueuePolicy } from "./fairness/fair-queue.js";
export type { SaturationThresholds } from "./fairness/saturation.js";
