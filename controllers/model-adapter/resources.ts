// The objects an adapter owns, as upstream creates them: a headless Service named after the adapter with no
// selector, and an EndpointSlice listing the pods that hold the adapter. Owner references let the garbage
// collector remove both with the adapter.
import { Adapter, Model } from "../../api/labels.js";
import { controllerReference, type KubeObject } from "../../kube/objects.js";

export interface Service extends KubeObject {
  spec: {
    clusterIP: string;
    publishNotReadyAddresses: boolean;
    ports: { name: string; port: number; targetPort: number; protocol: string }[];
  };
}

export interface EndpointSlice extends KubeObject {
  addressType: string;
  endpoints: {
    addresses: string[];
    conditions: { ready: boolean };
    targetRef: { kind: string; name: string; namespace: string; uid?: string };
  }[];
  ports: { name: string; port: number; protocol: string }[];
}

export interface AdapterOwner extends KubeObject {
  apiVersion: string;
  kind: string;
  spec: { baseModel?: string };
}

export interface Instance {
  pod: string;
  ip: string;
  uid?: string;
}

function labels(adapter: AdapterOwner): Record<string, string> {
  const name = adapter.metadata?.name ?? "";
  return {
    [Adapter.name]: name,
    ...(adapter.spec.baseModel ? { [Model.name]: adapter.spec.baseModel } : {}),
  };
}

export function desiredService(adapter: AdapterOwner, port: number): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: adapter.metadata?.name,
      namespace: adapter.metadata?.namespace,
      labels: labels(adapter),
      ownerReferences: [controllerReference(adapter)],
    },
    spec: {
      clusterIP: "None",
      publishNotReadyAddresses: true,
      ports: [{ name: "http", port, targetPort: port, protocol: "TCP" }],
    },
  };
}

export function desiredEndpointSlice(
  adapter: AdapterOwner,
  port: number,
  instances: readonly Instance[],
): EndpointSlice {
  const name = adapter.metadata?.name ?? "";
  const namespace = adapter.metadata?.namespace ?? "";
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace,
      labels: {
        ...labels(adapter),
        "kubernetes.io/service-name": name,
        "endpointslice.kubernetes.io/managed-by": "aibrix-ts",
      },
      ownerReferences: [controllerReference(adapter)],
    },
    addressType: instances.some((i) => i.ip.includes(":")) ? "IPv6" : "IPv4",
    endpoints: [...instances]
      .sort((a, b) => a.pod.localeCompare(b.pod))
      .map((i) => ({
        addresses: [i.ip],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: i.pod, namespace, ...(i.uid ? { uid: i.uid } : {}) },
      })),
    ports: [{ name: "http", port, protocol: "TCP" }],
  };
}

/** Whether the live Service differs from ours in what we own (the API server adds clusterIPs and more). */
export function serviceDiffers(live: Service, want: Service): boolean {
  const ports = (s: Service) => JSON.stringify((s.spec?.ports ?? []).map((p) => [p.name, p.port, p.targetPort]));
  return (
    ports(live) !== ports(want) ||
    live.spec?.publishNotReadyAddresses !== want.spec.publishNotReadyAddresses ||
    JSON.stringify(live.metadata?.labels ?? {}) !== JSON.stringify(want.metadata?.labels)
  );
}

export function endpointSliceDiffers(live: EndpointSlice, want: EndpointSlice): boolean {
  const eps = (s: EndpointSlice) => JSON.stringify((s.endpoints ?? []).map((e) => [e.addresses, e.targetRef?.name]));
  const ports = (s: EndpointSlice) => JSON.stringify((s.ports ?? []).map((p) => [p.name, p.port]));
  return eps(live) !== eps(want) || ports(live) !== ports(want) || live.addressType !== want.addressType;
}
