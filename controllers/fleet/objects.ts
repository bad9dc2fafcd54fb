// The objects the fleet controllers read and write, and what makes a KubeRay RayCluster ready, available or failed.
import type { RayClusterFleet, RayClusterReplicaSet } from "../../api/kinds/ray-cluster.js";
import type { LabelSelector } from "../../api/schema.js";
import type { KubeObject, ResourceRef } from "../../kube/objects.js";
import { ORCHESTRATION_GROUP } from "../../api/labels.js";

export type FleetObject = RayClusterFleet & KubeObject & { apiVersion: string; kind: string };
export type ReplicaSetObject = RayClusterReplicaSet & KubeObject & { apiVersion: string; kind: string };

export interface RayClusterCondition {
  type: string;
  status: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** A ray.io/v1 RayCluster: only the fields the controllers read. */
export interface RayCluster extends KubeObject {
  spec?: Record<string, unknown>;
  status?: {
    state?: string;
    readyWorkerReplicas?: number;
    desiredWorkerReplicas?: number;
    conditions?: RayClusterCondition[];
  };
}

/** apps/v1 DeploymentCondition: conditions of fleets and replica sets. */
export interface DeploymentCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  lastUpdateTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export const FleetResources = {
  fleets: {
    group: ORCHESTRATION_GROUP,
    version: "v1alpha1",
    plural: "rayclusterfleets",
    kind: "RayClusterFleet",
    namespaced: true,
  },
  replicaSets: {
    group: ORCHESTRATION_GROUP,
    version: "v1alpha1",
    plural: "rayclusterreplicasets",
    kind: "RayClusterReplicaSet",
    namespaced: true,
  },
  rayClusters: { group: "ray.io", version: "v1", plural: "rayclusters", kind: "RayCluster", namespaced: true },
} satisfies Record<string, ResourceRef>;

const conditionTrue = (cluster: RayCluster, type: string) =>
  cluster.status?.conditions?.some((c) => c.type === type && c.status === "True") ?? false;

/** KubeRay provisioned the cluster once (all its pods were ready at some point). */
export function isProvisioned(cluster: RayCluster): boolean {
  return conditionTrue(cluster, "RayClusterProvisioned") || cluster.status?.state === "ready";
}

/** Ready as KubeRay reports it: the head pod ready and every desired worker ready. */
export function isReady(cluster: RayCluster): boolean {
  const s = cluster.status;
  if (!s) return false;
  const hasConditions = (s.conditions ?? []).some((c) => c.type === "HeadPodReady");
  const headReady = hasConditions
    ? conditionTrue(cluster, "HeadPodReady") && conditionTrue(cluster, "RayClusterProvisioned")
    : s.state === "ready";
  return headReady && (s.readyWorkerReplicas ?? 0) >= (s.desiredWorkerReplicas ?? 0);
}

/** When the cluster last became ready (latest transition of its readiness conditions), in ms. */
export function readySince(cluster: RayCluster): number | undefined {
  const times = (cluster.status?.conditions ?? [])
    .filter((c) => (c.type === "HeadPodReady" || c.type === "RayClusterProvisioned") && c.status === "True")
    .map((c) => Date.parse(c.lastTransitionTime ?? ""))
    .filter((t) => Number.isFinite(t));
  if (times.length > 0) return Math.max(...times);
  const created = Date.parse(cluster.metadata?.creationTimestamp ?? "");
  return Number.isFinite(created) ? created : undefined;
}

/**
 * How long a provisioned cluster's head may stay not ready before the cluster is replaced. KubeRay recreates lost
 * head and worker pods itself, so a short outage is waited out; and a worker shortfall alone is never a failure,
 * because KubeRay marks a cluster provisioned once the pods that exist are ready, which can be before it has
 * created the workers.
 */
export const HEAD_LOSS_GRACE_MS = 60_000;

/** When a provisioned cluster's head stopped being ready (ms), or undefined while its head is ready. */
export function headLostSince(cluster: RayCluster): number | undefined {
  if (!isProvisioned(cluster)) return undefined;
  const head = cluster.status?.conditions?.find((c) => c.type === "HeadPodReady");
  if (!head || head.status === "True") return undefined;
  const since = Date.parse(head.lastTransitionTime ?? "");
  return Number.isFinite(since) ? since : undefined;
}

/** A cluster KubeRay gave up on, or whose head has not been ready for HEAD_LOSS_GRACE_MS: replaced, not waited for. */
export function isFailed(cluster: RayCluster, now: number): boolean {
  if (cluster.status?.state === "failed") return true;
  const lost = headLostSince(cluster);
  return lost !== undefined && now - lost >= HEAD_LOSS_GRACE_MS;
}

/** metav1.FormatLabelSelector: the string form `kubectl` and the /scale subresource use. */
export function selectorString(selector: LabelSelector): string {
  const parts: { key: string; text: string }[] = [];
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) parts.push({ key: k, text: `${k}=${v}` });
  for (const e of selector.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(",");
    const text =
      e.operator === "In"
        ? `${e.key} in (${values})`
        : e.operator === "NotIn"
          ? `${e.key} notin (${values})`
          : e.operator === "Exists"
            ? e.key
            : `!${e.key}`;
    parts.push({ key: e.key, text });
  }
  return parts
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((p) => p.text)
    .join(",");
}

/** Index of owned objects by the uid of their controller (a replica set's clusters, a fleet's replica sets). */
export const CONTROLLER_UID_INDEX = "controller-uid";
export const controllerUidIndex = (obj: KubeObject): string[] => {
  const owner = obj.metadata?.ownerReferences?.find((r) => r.controller);
  return owner ? [owner.uid] : [];
};

/**
 * Conditions with `next` set. As the Deployment controller: an unchanged status and reason is left alone unless
 * `touch` (progress was made: lastUpdateTime moves); the transition time moves only when the status does.
 */
export function setDeploymentCondition(
  conditions: readonly DeploymentCondition[] | undefined,
  next: Omit<DeploymentCondition, "lastTransitionTime" | "lastUpdateTime">,
  now: string,
  touch = false,
): DeploymentCondition[] {
  const list = [...(conditions ?? [])];
  const at = list.findIndex((c) => c.type === next.type);
  const previous = at >= 0 ? list[at] : undefined;
  if (previous?.status === next.status && previous.reason === next.reason && !touch) return list;
  const merged: DeploymentCondition = {
    ...next,
    lastUpdateTime: now,
    lastTransitionTime: previous?.status === next.status ? (previous.lastTransitionTime ?? now) : now,
  };
  if (at >= 0) list[at] = merged;
  else list.push(merged);
  return list;
}

export const removeCondition = (conditions: readonly DeploymentCondition[] | undefined, type: string) =>
  (conditions ?? []).filter((c) => c.type !== type);

/** RFC 3339 seconds, as the API server writes metav1.Time. */
export const apiTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
