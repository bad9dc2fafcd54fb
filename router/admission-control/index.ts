// Public face of admission control: one constructor and its configuration.
export { createAdmission, type Admission, type AdmissionConfig } from "./create.js";
export type { AuthMode } from "./auth/authenticate.js";
export type { RedisFailureMode } from "./limits/backend.js";
export type { LimitsConfig, ModelLimits } from "./limits/limiter.js";
export type { FairQueueOptions, QueuePolicy } from "./fairness/fair-queue.js";
export type { SaturationThresholds } from "./fairness/saturation.js";
