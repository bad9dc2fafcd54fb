// Kubernetes object shapes the KVCache controller writes, and the helpers that stamp them: labels, the controller
// owner reference (deleting the KVCache lets the garbage collector remove everything), and a hash of what we asked
// for, so a steady state costs no write and a changed spec replaces exactly what it changes.
import { createHash } from "node:crypto";
import type { KVCache } from "../../api/index.js";
import { KVCacheAnnotation } from "../../api/labels.js";
import { controllerReference, type KubeObject } from "../../kube/objects.js";
import type { Json, PodTemplate } from "./pod-template.js";

export type KVCacheObject = KVCache & KubeObject & { apiVersion: string; kind: string };

/** The kinds a KVCache owns, by their key in kube/resources.ts. */
export const OWNED_KINDS = [
  "pods",
  "services",
  "deployments",
  "statefulSets",
  "serviceAccounts",
  "roles",
  "roleBindings",
] as const;
export type OwnedKind = (typeof OWNED_KINDS)[number];

export interface OwnedObject extends KubeObject {
  apiVersion: string;
  kind: string;
  spec?: Json;
  status?: { readyReplicas?: number; replicas?: number; phase?: string };
  [field: string]: unknown;
}

export interface DesiredObject {
  kind: OwnedKind;
  object: OwnedObject;
  /** Created when missing, never replaced (pods: their spec is immutable; etcd members keep their data). */
  createOnly?: boolean;
}

/** The role label values upstream gives a KVCache's pods. */
export type Role = "cache" | "metadata" | "kvwatcher";

/** The annotation holding the hash of what the controller asked for. */
export const SPEC_HASH = "kvcache.orchestration.aibrix.ai/spec-hash";

export function cacheLabels(kv: KVCacheObject, role?: Role): Record<string, string> {
  return {
    [KVCacheAnnotation.podName]: kv.metadata?.name ?? "",
    ...(role ? { [KVCacheAnnotation.podRole]: role } : {}),
  };
}

export function ownedMeta(kv: KVCacheObject, name: string, labels: Record<string, string>) {
  return {
    name,
    namespace: kv.metadata?.namespace,
    labels,
    ownerReferences: [controllerReference(kv)],
  };
}

function shortHash(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

/** `obj` with the hash of `basis` (default: the object itself) in its annotations. */
export function stamped(obj: OwnedObject, basis: unknown = obj): OwnedObject {
  return {
    ...obj,
    metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, [SPEC_HASH]: shortHash(basis) } },
  };
}

/** Whether the live object is not what we asked for: another hash, or labels we set that changed. */
export function ownedDiffers(live: OwnedObject, want: OwnedObject): boolean {
  if (live.metadata?.annotations?.[SPEC_HASH] !== want.metadata?.annotations?.[SPEC_HASH]) return true;
  const liveLabels = live.metadata?.labels ?? {};
  return Object.entries(want.metadata?.labels ?? {}).some(([k, v]) => liveLabels[k] !== v);
}

export interface ServicePort {
  name: string;
  port: number;
  targetPort?: number;
  protocol?: string;
}

export function service(
  kv: KVCacheObject,
  name: string,
  labels: Record<string, string>,
  selector: Record<string, string>,
  ports: ServicePort[],
  headless = false,
): DesiredObject {
  const spec: Json = {
    type: "ClusterIP",
    ...(headless ? { clusterIP: "None" } : {}),
    selector,
    ports: ports.map((p) => ({ protocol: "TCP", targetPort: p.port, ...p })),
  };
  return {
    kind: "services",
    object: stamped({ apiVersion: "v1", kind: "Service", metadata: ownedMeta(kv, name, labels), spec }),
  };
}

export function deployment(
  kv: KVCacheObject,
  name: string,
  role: Role,
  replicas: number,
  template: PodTemplate,
  options: { recreate?: boolean; hashBasis?: unknown } = {},
): DesiredObject {
  const labels = cacheLabels(kv, role);
  const object: OwnedObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: ownedMeta(kv, name, labels),
    spec: {
      replicas,
      selector: { matchLabels: labels },
      ...(options.recreate ? { strategy: { type: "Recreate" } } : {}),
      template,
    },
  };
  return { kind: "deployments", object: stamped(object, options.hashBasis ?? object) };
}

export function statefulSet(
  kv: KVCacheObject,
  name: string,
  serviceName: string,
  replicas: number,
  template: PodTemplate,
): DesiredObject {
  const labels = cacheLabels(kv, "cache");
  const object: OwnedObject = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: ownedMeta(kv, name, labels),
    spec: { replicas, serviceName, selector: { matchLabels: labels }, template },
  };
  return { kind: "statefulSets", object: stamped(object) };
}

export function pod(kv: KVCacheObject, name: string, labels: Record<string, string>, spec: Json): DesiredObject {
  return {
    kind: "pods",
    createOnly: true,
    object: stamped({ apiVersion: "v1", kind: "Pod", metadata: ownedMeta(kv, name, labels), spec }),
  };
}
