// The benchmark fleet: H100/A100/L4/A10G nodes of realistic size, about half their GPUs taken by pinned pods of the
// deployment being placed. Deterministic, so the client and the extender process build the same one.
import { Diagnostics, Model, Orchestration, Scheduling } from "../../api/labels.js";
import { parseProfiles, type ProfileSet } from "../../api/gpu-profile.js";
import { RecommendationSet } from "../../api/gpu-recommendation.js";
import { ClusterState } from "../../extender/state.js";
import type { NodeObject, PodObject } from "../../extender/wire.js";

export const TYPES = [
  { product: "NVIDIA-H100-80GB-HBM3", gpus: 8 },
  { product: "NVIDIA-A100-SXM4-80GB", gpus: 8 },
  { product: "NVIDIA-L4", gpus: 4 },
  { product: "NVIDIA-A10G", gpus: 4 },
];

const PROFILES = `
gpus:
  H100: { memoryGiB: 80, products: [NVIDIA-H100-80GB-HBM3] }
  A100-80GB: { memoryGiB: 80, products: [NVIDIA-A100-SXM4-80GB] }
  L4: { memoryGiB: 24, products: [NVIDIA-L4] }
  A10G: { memoryGiB: 24, products: [NVIDIA-A10G] }
models:
  llama-8b:
    memoryGiB: 20
    profiles:
      - { gpu: H100, cost: 4.0, tputs: [[40, 20], [30, 10]], indexes: [[4, 8], [128, 256]] }
      - { gpu: A100-80GB, cost: 3.0, tputs: [[20, 10], [15, 5]], indexes: [[4, 8], [128, 256]] }
      - { gpu: L4, cost: 0.8, tputs: [[5, 2], [3, 1]], indexes: [[4, 8], [128, 256]] }
      - { gpu: A10G, cost: 1.0, tputs: [[0, 0], [0, 0]], indexes: [[4, 8], [128, 256]] }
`;

/** Deterministic pseudo-random numbers so every run measures the same fleet. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** A Node object of realistic size (labels, conditions, addresses, node info, a few images). */
function makeNode(i: number, now: number, rand: () => number): NodeObject {
  const t = TYPES[i % TYPES.length]!;
  const name = `gpu-node-${String(i).padStart(5, "0")}`;
  const annotations: Record<string, string> = {
    "node.alpha.kubernetes.io/ttl": "0",
    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
    [Diagnostics.nodeHealth]: rand() < 0.02 ? "unhealthy" : "healthy",
    [Diagnostics.lastReport]: new Date(now - Math.floor(rand() * 60_000)).toISOString(),
  };
  if (rand() < 0.05) annotations[Diagnostics.failingDevices] = String(Math.floor(rand() * t.gpus));
  if (annotations[Diagnostics.nodeHealth] === "unhealthy") annotations[Diagnostics.reason] = "XID 79 on GPU 1";
  const conditions = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready", "NetworkUnavailable"].map((type) => ({
    type,
    status: type === "Ready" ? "True" : "False",
    lastHeartbeatTime: new Date(now).toISOString(),
    lastTransitionTime: new Date(now - 86_400_000).toISOString(),
    reason: `Kubelet${type}`,
    message: `kubelet reports ${type} as expected`,
  }));
  const node = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      resourceVersion: String(1000 + i),
      creationTimestamp: new Date(now - 86_400_000 * 30).toISOString(),
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": `gpu-${t.gpus}x`,
        "topology.kubernetes.io/region": "us-east-1",
        "topology.kubernetes.io/zone": `us-east-1${"abc"[i % 3]}`,
        [Scheduling.gpuProductLabel]: t.product,
        "nvidia.com/gpu.count": String(t.gpus),
        "nvidia.com/gpu.memory": "81559",
        "nvidia.com/cuda.driver.major": "550",
      },
      annotations,
    },
    spec: { podCIDR: `10.${(i >> 8) & 255}.${i & 255}.0/24`, providerID: `aws:///us-east-1a/i-${i.toString(16)}` },
    status: {
      capacity: { cpu: "96", memory: "1056762Mi", pods: "110", [Scheduling.gpuResource]: String(t.gpus) },
      allocatable: { cpu: "95", memory: "1046762Mi", pods: "110", [Scheduling.gpuResource]: String(t.gpus) },
      conditions,
      addresses: [
        { type: "InternalIP", address: `10.0.${(i >> 8) & 255}.${i & 255}` },
        { type: "Hostname", address: name },
      ],
      nodeInfo: {
        machineID: "ec2a1f0c9b1e4a8c8d6f3e2b1a0c9d8e",
        kernelVersion: "5.15.0-1051-aws",
        osImage: "Ubuntu 22.04.4 LTS",
        containerRuntimeVersion: "containerd://1.7.12",
        kubeletVersion: "v1.31.2",
        kubeProxyVersion: "v1.31.2",
        operatingSystem: "linux",
        architecture: "amd64",
      },
      images: Array.from({ length: 8 }, (_, k) => ({
        names: [
          `registry.example.com/team/image-${k}@sha256:${"ab".repeat(32)}`,
          `registry.example.com/team/image-${k}:v1.${k}`,
        ],
        sizeBytes: 1_000_000_000 + k,
      })),
    },
  };
  return node as NodeObject;
}

export function makePod(name: string, gpus: number, nodeName?: string, devices?: string): PodObject {
  return {
    metadata: {
      name,
      namespace: "default",
      uid: `uid-${name}`,
      labels: { [Model.name]: "llama-8b", [Orchestration.podTemplateHash]: "7c9d5f", app: "llama-8b" },
      annotations: devices ? { [Scheduling.assignedDevices]: devices } : {},
      ownerReferences: [{ kind: "ReplicaSet", name: "llama-8b-7c9d5f", controller: true }],
    },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      schedulerName: Scheduling.gpuSchedulerName,
      containers: [
        {
          name: "vllm",
          resources: {
            requests: { cpu: "8", memory: "64Gi", [Scheduling.gpuResource]: String(gpus) },
            limits: { [Scheduling.gpuResource]: String(gpus) },
          },
        },
      ],
    },
    status: { phase: nodeName ? "Running" : "Pending" },
  };
}

export interface Fleet {
  state: ClusterState;
  nodes: NodeObject[];
  /** Unallocated GPUs per node, by index: what kube-scheduler's own resource filter checks. */
  freeGpus: number[];
}

/** Nodes with about half their GPUs taken by pinned pods of the same deployment. */
export function buildFleet(n: number, now: number): Fleet {
  const rand = rng(n);
  const state = new ClusterState();
  const nodes: NodeObject[] = [];
  const freeGpus: number[] = [];
  for (let i = 0; i < n; i++) {
    const node = makeNode(i, now, rand);
    nodes.push(node);
    state.upsertNode(node);
    const gpus = Number(node.status!.allocatable![Scheduling.gpuResource]);
    const used = Math.floor(rand() * (gpus + 1));
    freeGpus.push(gpus - used);
    for (let d = 0; d < used; d++)
      state.upsertPod(makePod(`${node.metadata!.name}-p${d}`, 1, node.metadata!.name, String(d)));
  }
  return { state, nodes, freeGpus };
}

export function fleetProfiles(): ProfileSet {
  return parseProfiles(PROFILES, "bench fleet");
}

export function fleetRecommendations(): RecommendationSet {
  return new RecommendationSet({
    recommendations: [
      { namespace: "default", deployment: "llama-8b", recommended: { H100: 400, "A100-80GB": 900, L4: 2000 } },
    ],
  });
}

/** GPUs the pod being placed asks for. */
export const BENCH_POD_GPUS = 2;

/** The pod being placed: a replica of the deployment the recommendation is for. */
export function benchPod(): PodObject {
  return makePod("llama-8b-7c9d5f-new", BENCH_POD_GPUS);
}
