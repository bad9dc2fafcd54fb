// Public surface of the router package.
export { startRouter, type Router, type RouterOptions, type RetryPolicy } from "./server.js";
export type { FleetView, EndpointView, EndpointSpec } from "./endpoints/endpoints.js";
export type { Discovery, DiscoverySnapshot } from "./discovery/types.js";
export { StaticDiscovery, FileDiscovery, parseEndpointFile, EndpointFileError } from "./discovery/static.js";
export { KubernetesDiscovery, podToEndpoint, snapshotFrom } from "./discovery/kubernetes.js";
export type { PipelineConfig } from "./picking/pipelines.js";
export { loadRouterConfig, type RouterConfigFile } from "./config.js";
