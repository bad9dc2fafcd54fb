// Heap in use after a full collection: what a test holds alive, give or take a few kilobytes. Tests that assert a
// structure does not keep something alive compare this before and after.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
// A fresh context sees the flag; the test process need not be started with it.
const gc = runInNewContext("gc") as () => void;

export function heapUsedAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * What `build` leaves reachable, in heap bytes after full collections, and what it built. The result is still
 * referenced when the heap is read after it (a value no longer used may be collected before that read).
 */
export function heapHeldBy<T>(build: () => T): { held: number; built: T } {
  const before = heapUsedAfterGc();
  const built = build();
  const held = heapUsedAfterGc() - before;
  return { held, built };
}
