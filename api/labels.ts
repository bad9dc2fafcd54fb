// Well-known labels and annotations, wire-compatible with AIBrix. One place, so no component spells them twice.

export const MODEL_GROUP = "model.aibrix.ai";
export const AUTOSCALING_GROUP = "autoscaling.aibrix.ai";
export const ORCHESTRATION_GROUP = "orchestration.aibrix.ai";

/** Model serving (pods, Deployments, Services). */
export const Model = {
  name: "model.aibrix.ai/name",
  port: "model.aibrix.ai/port",
  metricPort: "model.aibrix.ai/metric-port",
  engine: "model.aibrix.ai/engine",
  sidecarInjection: "model.aibrix.ai/sidecar-injection",
  sidecarRuntimeImage: "model.aibrix.ai/sidecar-runtime-image",
  config: "model.aibrix.ai/config",
  serviceName: "model.aibrix.ai/service-name",
  routerCustomPaths: "model.aibrix.ai/model-router-custom-paths",
  kvEventsEnabled: "model.aibrix.ai/kv-events-enabled",
  loraId: "model.aibrix.ai/lora-id",
  minReplicas: "model.aibrix.ai/min_replicas",
  kvConnectorType: "model.aibrix.ai/kv-connector-type",
  sglangBootstrapPort: "model.aibrix.ai/sglang-bootstrap-port",
} as const;

export const ModelDefaults = { port: 8000, metricPort: 8000, engine: "vllm" } as const;

/** A port from a label value (`model.aibrix.ai/port`, `.../metric-port`); `fallback` when absent or not a port. */
export function portLabel(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : fallback;
}

/** LoRA adapters. */
export const Adapter = {
  enabled: "adapter.model.aibrix.ai/enabled",
  name: "adapter.model.aibrix.ai/name",
  finalizer: "adapter.model.aibrix.ai/finalizer",
  scheduledPods: "adapter.model.aibrix.ai/scheduled-pods",
  retryCountPrefix: "adapter.model.aibrix.ai/retry-count.",
  lastRetryTimePrefix: "adapter.model.aibrix.ai/last-retry-time.",
} as const;

/** PodAutoscaler tuning annotations (prefix `autoscaling.aibrix.ai/`). */
export const AutoscalingAnnotation = {
  maxScaleUpRate: "autoscaling.aibrix.ai/max-scale-up-rate",
  maxScaleDownRate: "autoscaling.aibrix.ai/max-scale-down-rate",
  scaleUpTolerance: "autoscaling.aibrix.ai/scale-up-tolerance",
  scaleDownTolerance: "autoscaling.aibrix.ai/scale-down-tolerance",
  panicThreshold: "autoscaling.aibrix.ai/panic-threshold",
  scaleUpCooldownWindow: "autoscaling.aibrix.ai/scale-up-cooldown-window",
  scaleDownCooldownWindow: "autoscaling.aibrix.ai/scale-down-cooldown-window",
  scaleToZero: "autoscaling.aibrix.ai/scale-to-zero",
  /** Legacy sample key, parsed by nothing upstream: accepted with a warning as scale-down-cooldown-window. */
  legacyScaleDownDelay: "kpa.autoscaling.aibrix.ai/scale-down-delay",
} as const;

/** Fleet and Ray. */
export const Orchestration = {
  rayClusterFleetName: "orchestration.aibrix.ai/raycluster-fleet-name",
  rayNodeType: "ray.io/node-type",
  podTemplateHash: "pod-template-hash",
  revision: "deployment.kubernetes.io/revision",
  revisionHistory: "deployment.kubernetes.io/revision-history",
  desiredReplicas: "deployment.kubernetes.io/desired-replicas",
  maxReplicas: "deployment.kubernetes.io/max-replicas",
  podDeletionCost: "controller.kubernetes.io/pod-deletion-cost",
} as const;

/** KVCache annotations and pod labels. */
export const KVCacheAnnotation = {
  backend: "kvcache.orchestration.aibrix.ai/backend",
  legacyMode: "kvcache.orchestration.aibrix.ai/mode",
  nodeAffinityKey: "kvcache.orchestration.aibrix.ai/node-affinity-key",
  nodeAffinityGpuType: "kvcache.orchestration.aibrix.ai/node-affinity-gpu-type",
  podAffinityWorkload: "kvcache.orchestration.aibrix.ai/pod-affinity-workload",
  podAntiAffinity: "kvcache.orchestration.aibrix.ai/pod-anti-affinity",
  podName: "kvcache.orchestration.aibrix.ai/name",
  podRole: "kvcache.orchestration.aibrix.ai/role",
  /** Engine pod label or annotation: the KVCache (same namespace) whose connection env the mutating webhook adds. */
  consumerOf: "kvcache.orchestration.aibrix.ai/kvcache-name",
} as const;

export const KVCacheBackends = ["vineyard", "hpkv", "infinistore"] as const;
export type KVCacheBackend = (typeof KVCacheBackends)[number];
export const KVCacheRoles = ["cache", "metadata", "kvwatcher"] as const;

export const HpkvAnnotation = {
  rdmaPort: "hpkv.kvcache.orchestration.aibrix.ai/rdma-port",
  adminPort: "hpkv.kvcache.orchestration.aibrix.ai/admin-port",
  blockSizeBytes: "hpkv.kvcache.orchestration.aibrix.ai/block-size-bytes",
  blockCount: "hpkv.kvcache.orchestration.aibrix.ai/block-count",
  totalSlots: "hpkv.kvcache.orchestration.aibrix.ai/total-slots",
  virtualNodeCount: "hpkv.kvcache.orchestration.aibrix.ai/virtual-node-count",
} as const;

export const InfinistoreAnnotation = {
  linkType: "infinistore.kvcache.orchestration.aibrix.ai/link-type",
  hintGidIndex: "infinistore.kvcache.orchestration.aibrix.ai/hint-gid-index",
} as const;

/** Prefill/decode grouping labels. */
export const StormService = {
  roleSetName: "roleset-name",
  roleName: "role-name",
  podGroupIndex: "stormservice.orchestration.aibrix.ai/pod-group-index",
  roleReplicaIndex: "stormservice.orchestration.aibrix.ai/role-replica-index",
} as const;

/** Names this project adds (scheduler profile, device pinning). */
export const Scheduling = {
  gpuSchedulerName: "aibrix-gpu-scheduler",
  gpuResource: "nvidia.com/gpu",
  gpuProductLabel: "nvidia.com/gpu.product",
  /** Pod annotation written at bind time: the device indices this pod owns on its node, e.g. "0,1". */
  assignedDevices: "scheduling.aibrix.ai/gpu-devices",
} as const;

/**
 * Node health published by the diagnostics component and honoured by the scheduler extender. A node is excluded when
 * its health is `unhealthy`, or when its last report is older than the staleness bound; listed devices are never used.
 */
export const Diagnostics = {
  /** Node annotation: `healthy` | `unhealthy`. */
  nodeHealth: "diagnostics.aibrix.ai/node-health",
  /** Node annotation: comma-separated failing GPU device indices, e.g. "0,3". */
  failingDevices: "diagnostics.aibrix.ai/failing-devices",
  /** Node annotation: RFC 3339 time of the last diagnostics report. */
  lastReport: "diagnostics.aibrix.ai/last-report",
  /** Node annotation: human-readable reason for the current health. */
  reason: "diagnostics.aibrix.ai/reason",
  /** Node annotation: JSON object, failing device index → why, e.g. {"3":"gpu_link_status: PCIe link width x8 of x16"}. */
  deviceReasons: "diagnostics.aibrix.ai/device-reasons",
  /** Node label: `healthy` | `unhealthy`, the same as the annotation, for selectors. */
  nodeHealthLabel: "diagnostics.aibrix.ai/node-health",
  /** Node label: how many GPUs are excluded, for selectors. */
  failingCountLabel: "diagnostics.aibrix.ai/failing-gpus",
  /** NoSchedule taint on a node with a fatal accelerator fault; its value is the failing check. */
  faultTaint: "diagnostics.aibrix.ai/accelerator-fault",
  /** Node condition (True = a problem, as node-problem-detector's conditions). */
  condition: "AcceleratorProblem",
} as const;
