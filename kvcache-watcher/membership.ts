// Which cache pods are members and at what address, and the write of the ring to the metadata Redis: the stored
// version moves only when the node list (names, addresses, ports, slots) changes, checked and written in one
// optimistic transaction so two watchers never both bump it for one change.
import type { Redis } from "ioredis";
import { KVCacheAnnotation } from "../api/labels.js";
import type { KubeObject } from "../kube/objects.js";
import type { ClusterNodes, Member, NodeInfo } from "./ring.js";

export interface CachePod extends KubeObject {
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
  };
}

/** Upstream's RDMA network annotation (Volcengine CNI); the RDMA address wins over the pod IP when present. */
export const NETWORK_STATUS = "k8s.volcengine.com/network-status";

function rdmaAddress(pod: CachePod, ifName: string): string | undefined {
  const raw = pod.metadata?.annotations?.[NETWORK_STATUS];
  if (!raw) return undefined;
  try {
    const entries = JSON.parse(raw) as { cniName?: string; deviceInfo?: { ifName?: string; ips?: string[] } }[];
    const hit = entries.find(
      (e) => e.cniName === "rdma" && e.deviceInfo?.ifName === ifName && e.deviceInfo.ips?.length,
    );
    return hit?.deviceInfo?.ips?.[0]?.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Members of cache cluster `cluster`: its cache-role pods that run, are Ready (upstream takes any Running pod, which
 * hands slots to a server that cannot answer yet), are not being deleted, and have an address.
 */
export function members(pods: readonly CachePod[], cluster: string, ifName = "eth1"): Member[] {
  const out: Member[] = [];
  for (const pod of pods) {
    const labels = pod.metadata?.labels ?? {};
    if (labels[KVCacheAnnotation.podName] !== cluster || labels[KVCacheAnnotation.podRole] !== "cache") continue;
    if (pod.metadata?.deletionTimestamp || pod.status?.phase !== "Running") continue;
    if (!pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True")) continue;
    const addr = rdmaAddress(pod, ifName) ?? pod.status.podIP;
    if (addr) out.push({ name: pod.metadata?.name ?? "", addr });
  }
  return out;
}

const sameNodes = (a: readonly NodeInfo[], b: readonly NodeInfo[]) => JSON.stringify(a) === JSON.stringify(b);

function parse(raw: string | null): ClusterNodes | undefined {
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as ClusterNodes;
    return Array.isArray(value.nodes) && typeof value.version === "number" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Canonical field order, so a list read back from Redis compares equal to the same list built here. */
const canonical = (nodes: readonly NodeInfo[]): NodeInfo[] =>
  nodes.map((n) => ({
    name: n.name,
    addr: n.addr,
    port: n.port,
    slots: (n.slots ?? []).map((s) => ({ start: s.start, end: s.end })),
  }));

/**
 * Stores `nodes` under `key` unless they are what is stored; returns the version now stored and whether it moved.
 * Retries when another writer changed the key between the read and the write.
 */
export async function publish(
  redis: Redis,
  key: string,
  nodes: readonly NodeInfo[],
  tries = 10,
): Promise<{ version: number; changed: boolean }> {
  for (let i = 0; i < tries; i++) {
    await redis.watch(key);
    const current = parse(await redis.get(key));
    if (current && sameNodes(canonical(current.nodes), canonical(nodes))) {
      await redis.unwatch();
      return { version: current.version, changed: false };
    }
    const next: ClusterNodes = { nodes: canonical(nodes), version: (current?.version ?? 0) + 1 };
    const result = await redis.multi().set(key, JSON.stringify(next)).exec();
    if (result !== null) return { version: next.version, changed: true };
  }
  throw new Error(`membership key ${key} kept changing under ${tries} attempts; another writer is active`);
}
