// Cache-pod membership as upstream's engines read it: a consistent-hash ring of `virtualNodeCount` virtual nodes
// per pod, each of `totalSlots` slots owned by the first virtual node at or after the slot's hash, written as slot
// ranges per node. Owners depend only on the set of pod names, never on their order, so adding one pod moves only
// the slots its virtual nodes take over.
import { createHash } from "node:crypto";

export interface SlotRange {
  start: number;
  end: number;
}

export interface NodeInfo {
  name: string;
  addr: string;
  port: number;
  slots: SlotRange[];
}

/** The value stored under the cluster key (upstream's ClusterNodes JSON). */
export interface ClusterNodes {
  nodes: NodeInfo[];
  version: number;
}

export interface Member {
  name: string;
  addr: string;
}

/** 64-bit ring position of `key` (the first 8 bytes of its SHA-1). */
function position(key: string): bigint {
  return createHash("sha1").update(key).digest().readBigUInt64BE(0);
}

/** Slot numbers per pod name. */
export function slotOwners(
  pods: readonly string[],
  totalSlots: number,
  virtualNodeCount: number,
): Map<string, number[]> {
  const ring: { at: bigint; pod: string }[] = [];
  for (const pod of pods) {
    for (let i = 0; i < virtualNodeCount; i++) ring.push({ at: position(`${pod}-vnode-${i}`), pod });
  }
  ring.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.pod.localeCompare(b.pod)));
  const owners = new Map<string, number[]>(pods.map((p) => [p, []]));
  if (ring.length === 0) return owners;
  for (let slot = 0; slot < totalSlots; slot++) {
    const at = position(String(slot));
    // Binary search for the first virtual node at or after `at`; past the end wraps to the first.
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ring[mid]!.at < at) lo = mid + 1;
      else hi = mid;
    }
    owners.get(ring[lo % ring.length]!.pod)!.push(slot);
  }
  return owners;
}

/** Sorted slots as ranges; a run touching both ends of the ring becomes one wrapping range (start > end). */
export function slotRanges(slots: readonly number[], totalSlots: number): SlotRange[] {
  const sorted = [...slots].sort((a, b) => a - b);
  const ranges: SlotRange[] = [];
  for (const slot of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && slot === last.end + 1) last.end = slot;
    else ranges.push({ start: slot, end: slot });
  }
  if (ranges.length > 1 && ranges[0]!.start === 0 && ranges[ranges.length - 1]!.end === totalSlots - 1) {
    const first = ranges.shift()!;
    ranges[ranges.length - 1]!.end = first.end;
  }
  return ranges;
}

/** The node list for `members`, sorted by name so equal membership serializes equally. */
export function clusterNodes(
  members: readonly Member[],
  port: number,
  totalSlots: number,
  virtualNodeCount: number,
): NodeInfo[] {
  const sorted = [...members].sort((a, b) => a.name.localeCompare(b.name));
  const owners = slotOwners(
    sorted.map((m) => m.name),
    totalSlots,
    virtualNodeCount,
  );
  return sorted.map((m) => ({
    name: m.name,
    addr: m.addr,
    port,
    slots: slotRanges(owners.get(m.name) ?? [], totalSlots),
  }));
}
