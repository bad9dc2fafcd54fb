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
