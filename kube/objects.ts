// The JSON shape of Kubernetes objects as the API server sends them (timestamps are strings), and the helpers that
// name and address them: keys, API paths, owner references, conditions.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface KubeList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A resource the API serves: core (`group: ""`) or from a group, optionally one namespace and selectors. */
export interface ResourceRef {
  group: string;
  version: string;
  /** Lower-case plural, e.g. "pods", "modeladapters". */
  plural: string;
  /** Kind of the objects, e.g. "Pod" (owner references and Events need it). */
  kind: string;
  namespaced: boolean;
  /** Watch one namespace only (default all). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** "namespace/name" for namespaced objects, "name" otherwise — the work queue's and the caches' key. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? "";
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf("/");
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function apiVersionOf(ref: Pick<ResourceRef, "group" | "version">): string {
  return ref.group ? `${ref.group}/${ref.version}` : ref.version;
}

/** The collection path (`/api/v1/namespaces/ns/pods`, `/apis/g/v/plural`); `namespace` overrides the ref's own. */
export function collectionPath(ref: ResourceRef, namespace = ref.namespace): string {
  const base = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${ref.plural}`;
}

/** The path of one object, optionally a subresource (`status`, `scale`). */
export function objectPath(ref: ResourceRef, key: string, subresource?: string): string {
  const { namespace, name } = splitKey(key);
  const path = `${collectionPath(ref, namespace)}/${encodeURIComponent(name)}`;
  return subresource ? `${path}/${subresource}` : path;
}

/** An owner reference to `owner` that makes it the controller and lets the garbage collector cascade deletes. */
export function controllerReference(owner: KubeObject & { apiVersion: string; kind: string }): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata?.name ?? "",
    uid: owner.metadata?.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The owner reference that marks `obj`'s controller, if any. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller);
}

export const isDeleting = (obj: KubeObject): boolean => Boolean(obj.metadata?.deletionTimestamp);
export const hasFinalizer = (obj: KubeObject, finalizer: string): boolean =>
  obj.metadata?.finalizers?.includes(finalizer) ?? false;

/** A status condition as the API conventions (and AIBrix's schemas) define it. */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/**
 * `conditions` with `next` set: the transition time moves only when the status changes, as the API conventions
 * ask, so a condition rewritten every reconcile with the same status does not look like it just changed.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, "lastTransitionTime">,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const at = list.findIndex((c) => c.type === next.type);
  const previous = at >= 0 ? list[at] : undefined;
  const lastTransitionTime =
    previous && previous.status === next.status && previous.lastTransitionTime
      ? previous.lastTransitionTime
      : now.toISOString().replace(/\.\d{3}Z$/, "Z");
  const merged = { ...next, lastTransitionTime };
  if (at >= 0) list[at] = merged;
  else list.push(merged);
  return list;
}
