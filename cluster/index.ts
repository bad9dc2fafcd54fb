// The loopback control plane harness: build/find binaries, start and stop the cluster, talk to its API.
export { startCluster, stopCluster, clusterStatus, readClusterState, LoopbackCluster } from "./cluster.js";
export type { ClusterOptions, ClusterState, ClusterStatus } from "./cluster.js";
export { ensureBinaries, BUILD_SCRIPT } from "./binaries.js";
export { KubeApi, ApiError } from "./api.js";
export { CertificateAuthority } from "./certs.js";
export { loadNodeGroups, parseNodeGroups, nodeObjects, DEFAULT_NODE_GROUPS_FILE } from "./nodes.js";
export type { NodeGroup } from "./nodes.js";
export {
  schedulerConfig,
  schedulerConfigYaml,
  chartSchedulerProfile,
  CHART_SCHEDULER_CONFIG,
} from "./scheduler-config.js";
export type { ExtenderOptions } from "./scheduler-config.js";
export { startEnginePods, readinessStatus } from "./engine-pods.js";
export type { EnginePods, EnginePodsOptions, EngineInfo, EngineState, Pod } from "./engine-pods.js";
export { engineSettings, calibrationFor, gpuTypeOfProduct, vllmArguments } from "./engine-settings.js";
export type { EngineSettings } from "./engine-settings.js";
export {
  podRangeIsLocal,
  assertPodRangeIsLocal,
  NAMESPACED_POD_CIDR,
  LOOPBACK_POD_CIDR,
  isLoopbackCidr,
} from "./pod-network.js";
