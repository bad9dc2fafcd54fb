// Deciding the marks: faults mark at once, and a mark clears only after its subject (the node, or one GPU) has
// stayed healthy for a whole stable period, so a flapping fault keeps its mark instead of toggling it every probe.
import type { Assessment } from "./checks.js";

export interface Mark {
  reason: string;
  /** When the subject was first seen healthy again (ms since epoch); null while still failing. */
  cleanSinceMs: number | null;
}

export interface Marks {
  /** The node mark (fatal fault: unhealthy, tainted), or null. */
  node: (Mark & { check: string }) | null;
  /** Device index → its mark. */
  devices: ReadonlyMap<number, Mark>;
}

export const NO_MARKS: Marks = { node: null, devices: new Map() };

function carry<M extends Mark>(prev: M, nowMs: number, stableMs: number): M | null {
  const since = prev.cleanSinceMs ?? nowMs;
  return nowMs - since >= stableMs ? null : { ...prev, cleanSinceMs: since };
}

/** The marks after one assessment at `nowMs`. Pure: same inputs, same marks. */
export function decideMarks(prev: Marks, now: Assessment, nowMs: number, stableMs: number): Marks {
  let node: Marks["node"];
  if (now.nodeFault) node = { check: now.nodeFault.check, reason: now.nodeFault.message, cleanSinceMs: null };
  else node = prev.node ? carry(prev.node, nowMs, stableMs) : null;

  const devices = new Map<number, Mark>();
  for (const [index, reason] of now.failing) devices.set(index, { reason, cleanSinceMs: null });
  for (const [index, mark] of prev.devices) {
    if (devices.has(index)) continue;
    const kept = carry(mark, nowMs, stableMs);
    if (kept) devices.set(index, kept);
  }
  return { node, devices };
}

export function sameMarks(a: Marks, b: Marks): boolean {
  if ((a.node === null) !== (b.node === null)) return false;
  if (a.node && b.node && (a.node.reason !== b.node.reason || a.node.check !== b.node.check)) return false;
  if (a.devices.size !== b.devices.size) return false;
  for (const [i, m] of a.devices) if (b.devices.get(i)?.reason !== m.reason) return false;
  return true;
}
