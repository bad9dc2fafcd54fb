// A heterogeneous fleet for placement tests: H100, A100, L4 and A10G nodes, some failing, some full.
import { Diagnostics, Model, Orchestration, Scheduling } from "../../../api/labels.js";
import { parseProfiles, type ProfileSet } from "../../../api/gpu-profile.js";
import type { NodeObject, PodObject } from "../../../extender/wire.js";

export const NOW = Date.parse("2026-01-01T12:00:00Z");

export const PRODUCTS = {
  H100: "NVIDIA-H100-80GB-HBM3",
  A100: "NVIDIA-A100-SXM4-80GB",
  L4: "NVIDIA-L4",
  A10G: "NVIDIA-A10G",
} as const;

export interface NodeSpec {
  product?: string;
  gpus?: number;
  health?: string;
  reason?: string;
  failing?: string;
  /** Minutes before NOW of the last diagnostics report; null = no annotations at all. */
  reportAgeMin?: number | null;
  labels?: Record<string, string>;
  resourceVersion?: string;
}

export function node(name: string, s: NodeSpec = {}): NodeObject {
  const labels: Record<string, string> = { "kubernetes.io/hostname": name, ...(s.labels ?? {}) };
  if (s.product) labels[Scheduling.gpuProductLabel] = s.product;
  const annotations: Record<string, string> = {};
  if (s.reportAgeMin !== null) {
    annotations[Diagnostics.nodeHealth] = s.health ?? "healthy";
    annotations[Diagnostics.lastReport] = new Date(NOW - (s.reportAgeMin ?? 1) * 60_000).toISOString();
    if (s.reason) annotations[Diagnostics.reason] = s.reason;
    if (s.failing !== undefined) annotations[Diagnostics.failingDevices] = s.failing;
  }
  const gpus = String(s.gpus ?? 0);
  return {
    metadata: { name, labels, annotations, resourceVersion: s.resourceVersion ?? "1" },
    status: {
      allocatable: { cpu: "64", [Scheduling.gpuResource]: gpus },
      capacity: { [Scheduling.gpuResource]: gpus },
    },
  };
}

export interface PodSpec {
  model?: string;
  gpus?: number;
  node?: string;
  devices?: string;
  deployment?: string;
  phase?: string;
  namespace?: string;
}

let seq = 0;
export function pod(name: string, s: PodSpec = {}): PodObject {
  const labels: Record<string, string> = {};
  if (s.model) labels[Model.name] = s.model;
  const annotations: Record<string, string> = {};
  if (s.devices) annotations[Scheduling.assignedDevices] = s.devices;
  const owners = [];
  if (s.deployment) {
    labels[Orchestration.podTemplateHash] = "5d8f7c";
    owners.push({ kind: "ReplicaSet", name: `${s.deployment}-5d8f7c`, controller: true });
  }
  return {
    metadata: {
      name,
      namespace: s.namespace ?? "default",
      uid: `uid-${name}-${++seq}`,
      labels,
      annotations,
      ownerReferences: owners,
    },
    spec: {
      ...(s.node ? { nodeName: s.node } : {}),
      containers: [
        {
          name: "engine",
          resources: s.gpus ? { limits: { [Scheduling.gpuResource]: String(s.gpus) } } : { requests: { cpu: "1" } },
        },
      ],
    },
    status: { phase: s.phase ?? (s.node ? "Running" : "Pending") },
  };
}

export const PROFILE_YAML = `
gpus:
  H100: { memoryGiB: 80, products: [${PRODUCTS.H100}] }
  A100-80GB: { memoryGiB: 80, products: [${PRODUCTS.A100}] }
  L4: { memoryGiB: 24, products: [${PRODUCTS.L4}] }
  A10G: { memoryGiB: 24, products: [${PRODUCTS.A10G}] }
models:
  llama-8b:
    memoryGiB: 20
    profiles:
      - { gpu: H100, cost: 4.0, tputs: [[40, 20], [30, 10]], indexes: [[4, 8], [128, 256]], slos: { percentile: 99, e2e: 5 } }
      - { gpu: A100-80GB, cost: 3.0, tputs: [[20, 10], [15, 5]], indexes: [[4, 8], [128, 256]] }
      - { gpu: L4, cost: 0.8, tputs: [[5, 2], [3, 1]], indexes: [[4, 8], [128, 256]] }
      - { gpu: A10G, cost: 1.0, tputs: [[0, 0], [0, 0]], indexes: [[4, 8], [128, 256]] }
  llama-70b:
    memoryGiB: 140
    profiles:
      - { gpu: H100, cost: 4.0, tputs: [[8, 4], [6, 2]], indexes: [[4, 8], [128, 256]] }
      - { gpu: A100-80GB, cost: 3.0, tputs: [[4, 2], [3, 1]], indexes: [[4, 8], [128, 256]] }
      - { gpu: L4, cost: 0.8, tputs: [[1, 1], [1, 1]], indexes: [[4, 8], [128, 256]] }
`;

export function fleetProfiles(): ProfileSet {
  return parseProfiles(PROFILE_YAML, "fleet.ts");
}
