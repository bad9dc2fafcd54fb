// What the optimizer needs from the cluster: the model Deployments (one per GPU type, as AIBrix's heterogeneous
// sample runs them) and the GPUs still free per type. Pure functions over API objects, plus the two list calls.
import { Model, Scheduling } from "../api/labels.js";
import type { ProfileSet } from "../api/gpu-profile.js";
import type { KubeList, KubeObject } from "../kube/objects.js";
import type { KubeClient } from "../kube/request.js";

interface Resources {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}
interface PodSpec {
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  containers?: { resources?: Resources }[];
}
export type Deployment = KubeObject & {
  spec?: { replicas?: number; template?: { spec?: PodSpec } };
  status?: { readyReplicas?: number };
};
type Node = KubeObject & { status?: { allocatable?: Record<string, string> } };
type Pod = KubeObject & { spec?: PodSpec; status?: { phase?: string } };

export interface ModelDeployment {
  namespace: string;
  name: string;
  model: string;
  /** The GPU type it runs on (a type of the profile document), or undefined with `unresolved` saying why. */
  gpuType?: string;
  unresolved?: string;
  replicas: number;
  readyReplicas: number;
  /** From the `model.aibrix.ai/min_replicas` label (upstream's), default 0. */
  minReplicas: number;
  gpusPerReplica: number;
}

/** GPUs one pod of the template requests (limits win, as for extended resources they must be equal). */
export function gpusPerPod(spec: PodSpec | undefined): number {
  let n = 0;
  for (const c of spec?.containers ?? []) {
    const v = c.resources?.limits?.[Scheduling.gpuResource] ?? c.resources?.requests?.[Scheduling.gpuResource];
    n += Number(v ?? 0) || 0;
  }
  return n;
}

/**
 * The GPU type of a Deployment: its pods' node selector on the GPU product label (mapped through the profile
 * document's `products`), else its own name when that names a profiled type (upstream's convention: the profile's
 * `gpu` is the Deployment's name).
 */
export function resolveGpuType(
  d: Deployment,
  model: string,
  profiles: ProfileSet,
  gpuTypeLabel?: string,
): { gpuType?: string; unresolved?: string } {
  const profiled = new Set((profiles.doc.models[model]?.profiles ?? []).map((p) => p.gpu));
  const selector = d.spec?.template?.spec?.nodeSelector ?? {};
  const label = (gpuTypeLabel && selector[gpuTypeLabel]) ?? selector[Scheduling.gpuProductLabel];
  const candidates = [label ? profiles.gpuType(label) : undefined, d.metadata?.name].filter(
    (x): x is string => x !== undefined,
  );
  const hit = candidates.find((c) => profiled.has(c));
  if (hit) return { gpuType: hit };
  return {
    unresolved:
      `no profile of model ${model} for ${label ? `GPU ${label}` : "this Deployment"}: profile one of ` +
      `[${[...profiled].join(", ") || "no types yet"}], or select its GPU with nodeSelector ${Scheduling.gpuProductLabel}`,
  };
}

export function modelDeployment(
  d: Deployment,
  profiles: ProfileSet,
  gpuTypeLabel?: string,
): ModelDeployment | undefined {
  const labels = d.metadata?.labels ?? {};
  const model = labels[Model.name];
  if (!model || !d.metadata?.name || !d.metadata.namespace) return undefined;
  const min = Number(labels[Model.minReplicas] ?? 0);
  return {
    namespace: d.metadata.namespace,
    name: d.metadata.name,
    model,
    ...resolveGpuType(d, model, profiles, gpuTypeLabel),
    replicas: d.spec?.replicas ?? 1,
    readyReplicas: d.status?.readyReplicas ?? 0,
    minReplicas: Number.isInteger(min) && min > 0 ? min : 0,
    gpusPerReplica: gpusPerPod(d.spec?.template?.spec) || 1,
  };
}

/** Free GPUs per profiled type: allocatable on nodes of that type minus what bound, live pods request. */
export function freeGpusByType(
  nodes: readonly Node[],
  pods: readonly Pod[],
  profiles: ProfileSet,
  gpuTypeLabel?: string,
): Record<string, number> {
  const typeOfNode = new Map<string, string>();
  const free: Record<string, number> = {};
  for (const n of nodes) {
    const labels = n.metadata?.labels ?? {};
    const value = (gpuTypeLabel && labels[gpuTypeLabel]) || labels[Scheduling.gpuProductLabel];
    const count = Number(n.status?.allocatable?.[Scheduling.gpuResource] ?? 0) || 0;
    if (!value || count <= 0 || !n.metadata?.name) continue;
    const type = profiles.gpuType(value);
    typeOfNode.set(n.metadata.name, type);
    free[type] = (free[type] ?? 0) + count;
  }
  for (const p of pods) {
    const type = p.spec?.nodeName ? typeOfNode.get(p.spec.nodeName) : undefined;
    if (!type || p.status?.phase === "Succeeded" || p.status?.phase === "Failed") continue;
    free[type] = Math.max(0, free[type]! - gpusPerPod(p.spec));
  }
  return free;
}

export interface FleetSnapshot {
  deployments: ModelDeployment[];
  freeGpus: Record<string, number>;
}

/** Lists the model Deployments, nodes and pods once. */
export async function readFleet(
  client: KubeClient,
  profiles: ProfileSet,
  gpuTypeLabel?: string,
): Promise<FleetSnapshot> {
  const selector = encodeURIComponent(Model.name);
  const [deployments, nodes, pods] = await Promise.all([
    client.get<KubeList<Deployment>>(`/apis/apps/v1/deployments?labelSelector=${selector}`),
    client.get<KubeList<Node>>("/api/v1/nodes"),
    client.get<KubeList<Pod>>(
      `/api/v1/pods?fieldSelector=${encodeURIComponent("status.phase!=Succeeded,status.phase!=Failed")}`,
    ),
  ]);
  return {
    deployments: deployments.items.flatMap((d) => modelDeployment(d, profiles, gpuTypeLabel) ?? []),
    freeGpus: freeGpusByType(nodes.items, pods.items, profiles, gpuTypeLabel),
  };
}
