// A serving command's /metrics also reports on its own process: CPU seconds, resident memory, heap, event-loop lag
// and GC pauses, under prom-client's standard names (process_cpu_seconds_total, nodejs_eventloop_lag_p99_seconds,
// nodejs_gc_duration_seconds, …). The command registers them, not the server: a deployable is one serving process,
// while tests start many servers in one process and would each add their own collectors.
import { collectDefaultMetrics, type Registry } from "prom-client";

export function reportProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
}
