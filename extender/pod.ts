// What placement needs to know about a pod: its model, how many GPUs it asks for, which deployment it belongs to,
// and which devices it was pinned to at bind time.
import { Model, Orchestration, Scheduling } from "../api/labels.js";
import type { ContainerObject, PodObject } from "./wire.js";

export interface PodFacts {
  /** `model.aibrix.ai/name`, or undefined for pods placement does not manage. */
  model: string | undefined;
  /** Whole GPUs requested (init containers count as the max, as kube-scheduler does). */
  gpus: number;
  /** `namespace/deployment` the pod belongs to, when it can be told from its owner. */
  deploymentKey: string | undefined;
}

/** Reads a GPU quantity; extended resources are whole numbers. Returns NaN when the value is not one. */
function gpuQuantity(v: string | number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? v : NaN;
  if (!/^\d+$/.test(v)) return NaN;
  return Number(v);
}

function containerGpus(c: ContainerObject, resource: string, where: string): number {
  const req = gpuQuantity(c.resources?.requests?.[resource]);
  const lim = gpuQuantity(c.resources?.limits?.[resource]);
  if (Number.isNaN(req) || Number.isNaN(lim)) {
    const bad = Number.isNaN(req) ? c.resources?.requests?.[resource] : c.resources?.limits?.[resource];
    throw new Error(
      `${where}: ${resource} = ${JSON.stringify(bad)} breaks rule "whole number": GPUs are requested in whole units`,
    );
  }
  // Extended resources default the request to the limit; when both are set they must be equal.
  return req > 0 ? req : lim;
}

/** GPUs a pod asks for. Throws with the container and value when a quantity is not a whole number. */
export function podGpuRequest(pod: PodObject, resource: string = Scheduling.gpuResource): number {
  let sum = 0;
  const containers = pod.spec?.containers ?? [];
  for (let i = 0; i < containers.length; i++) {
    sum += containerGpus(containers[i]!, resource, `Pod.spec.containers[${i}]`);
  }
  let initMax = 0;
  const inits = pod.spec?.initContainers ?? [];
  for (let i = 0; i < inits.length; i++) {
    initMax = Math.max(initMax, containerGpus(inits[i]!, resource, `Pod.spec.initContainers[${i}]`));
  }
  return Math.max(sum, initMax);
}

/** `namespace/deployment` from the owning ReplicaSet (`<deployment>-<pod-template-hash>`), else the owner's name. */
export function podDeploymentKey(pod: PodObject): string | undefined {
  const owners = pod.metadata?.ownerReferences;
  if (!owners || owners.length === 0) return undefined;
  const owner = owners.find((o) => o.controller) ?? owners[0]!;
  if (!owner.name) return undefined;
  const ns = pod.metadata?.namespace ?? "default";
  const hash = pod.metadata?.labels?.[Orchestration.podTemplateHash];
  if (owner.kind === "ReplicaSet" && hash && owner.name.endsWith(`-${hash}`)) {
    return `${ns}/${owner.name.slice(0, -(hash.length + 1))}`;
  }
  return `${ns}/${owner.name}`;
}

export function podFacts(pod: PodObject, resource: string = Scheduling.gpuResource): PodFacts {
  return {
    model: pod.metadata?.labels?.[Model.name],
    gpus: podGpuRequest(pod, resource),
    deploymentKey: podDeploymentKey(pod),
  };
}

/** Device indices from the bind-time annotation ("0,1"); undefined when absent or unreadable. */
export function parseDeviceList(value: string | undefined): number[] | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const out: number[] = [];
  for (const part of value.split(",")) {
    const t = part.trim();
    if (!/^\d+$/.test(t)) return undefined;
    out.push(Number(t));
  }
  return out;
}

export function formatDeviceList(devices: readonly number[]): string {
  return devices.join(",");
}
