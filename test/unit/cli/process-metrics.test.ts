import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { reportProcessMetrics } from "../../../cli/process-metrics.js";
import { heapUsedAfterGc } from "../../support/heap.js";

/** Full (mark-compact) collections, as V8 runs when the old generation fills. */
const fullGc = (): void => void heapUsedAfterGc();

async function gaugeValue(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  assert.ok(metric, `${name} is registered`);
  return Number(metric.values[0]?.value);
}

describe("cli/process-metrics", () => {
  it("reports the heap left after the last full collection, once one has run", async () => {
    const registry = new Registry();
    reportProcessMetrics(registry);
    assert.equal(await gaugeValue(registry, "aibrix_heap_after_full_gc_bytes"), 0);
    const kept: number[][] = Array.from({ length: 200 }, () => new Array<number>(5_000).fill(1));
    fullGc();
    // GC entries reach observers asynchronously.
    await new Promise((r) => setTimeout(r, 50));
    const withArrays = await gaugeValue(registry, "aibrix_heap_after_full_gc_bytes");
    assert.ok(withArrays > 8_000_000, `the 8 MB still reachable is counted (${withArrays} bytes)`);
    assert.equal(kept.length, 200);
    kept.length = 0;
    fullGc();
    await new Promise((r) => setTimeout(r, 50));
    const without = await gaugeValue(registry, "aibrix_heap_after_full_gc_bytes");
    assert.ok(without < withArrays - 6_000_000, `garbage is not counted (${without} < ${withArrays} bytes)`);
    registry.clear();
  });
});
