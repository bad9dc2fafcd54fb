// A serving command's /metrics also reports on its own process: CPU seconds, resident memory, heap, event-loop lag
// and GC pauses, under prom-client's standard names (process_cpu_seconds_total, nodejs_eventloop_lag_p99_seconds,
// nodejs_gc_duration_seconds, …). The command registers them, not the server: a deployable is one serving process,
// while tests start many servers in one process and would each add their own collectors.
import { constants, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";
import v8 from "node:v8";
import { collectDefaultMetrics, Gauge, type Registry } from "prom-client";

export function reportProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  reportHeapAfterFullGc(registry);
}

/** A perf_hooks GC entry: `detail.kind` says which collection ran (Node ≥ 16). */
type GcEntry = PerformanceEntry & { detail?: { kind?: number } };

/**
 * The heap in use just after the last full collection. nodejs_heap_size_used_bytes counts garbage not yet collected,
 * so it saws up and down with allocation; after a mark-compact only what is reachable is left, which is what a leak
 * makes grow and what a memory alarm should watch. 0 until the first full collection.
 */
export function reportHeapAfterFullGc(registry: Registry): void {
  const gauge = new Gauge({
    name: "aibrix_heap_after_full_gc_bytes",
    help: "V8 heap in use right after the last full (mark-compact) garbage collection: the live heap",
    registers: [registry],
  });
  gauge.set(0);
  const observer = new PerformanceObserver((list) => {
    const full = list.getEntries().some((e: GcEntry) => e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
    if (full) gauge.set(v8.getHeapStatistics().used_heap_size);
  });
  observer.observe({ entryTypes: ["gc"] });
}
