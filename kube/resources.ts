// The resources our deployables watch and write, named once.
import { MODEL_GROUP, ORCHESTRATION_GROUP } from "../api/labels.js";
import type { ResourceRef } from "./objects.js";

const apps = (plural: string, kind: string): ResourceRef => ({
  group: "apps",
  version: "v1",
  plural,
  kind,
  namespaced: true,
});
const rbac = (plural: string, kind: string): ResourceRef => ({
  group: "rbac.authorization.k8s.io",
  version: "v1",
  plural,
  kind,
  namespaced: true,
});

const core = (plural: string, kind: string, namespaced = true): ResourceRef => ({
  group: "",
  version: "v1",
  plural,
  kind,
  namespaced,
});

export const Resources = {
  pods: core("pods", "Pod"),
  nodes: core("nodes", "Node", false),
  services: core("services", "Service"),
  configMaps: core("configmaps", "ConfigMap"),
  secrets: core("secrets", "Secret"),
  serviceAccounts: core("serviceaccounts", "ServiceAccount"),
  deployments: apps("deployments", "Deployment"),
  statefulSets: apps("statefulsets", "StatefulSet"),
  roles: rbac("roles", "Role"),
  roleBindings: rbac("rolebindings", "RoleBinding"),
  endpointSlices: {
    group: "discovery.k8s.io",
    version: "v1",
    plural: "endpointslices",
    kind: "EndpointSlice",
    namespaced: true,
  },
  leases: { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  events: { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true },
  modelAdapters: {
    group: MODEL_GROUP,
    version: "v1alpha1",
    plural: "modeladapters",
    kind: "ModelAdapter",
    namespaced: true,
  },
  kvCaches: {
    group: ORCHESTRATION_GROUP,
    version: "v1alpha1",
    plural: "kvcaches",
    kind: "KVCache",
    namespaced: true,
  },
} satisfies Record<string, ResourceRef>;

/** `ref` narrowed to one namespace and/or selectors. */
export function scoped(
  ref: ResourceRef,
  scope: { namespace?: string; labelSelector?: string; fieldSelector?: string },
): ResourceRef {
  return { ...ref, ...scope };
}
