// The router's own Prometheus metrics. The ones touched by every request keep plain numbers per label set and
// render through the same Registry: prom-client's Counter and Histogram hash and validate the label object on every
// call, which is measurable at thousands of requests per second. The rare ones stay prom-client metrics.
import { Counter, Gauge, Registry, type Metric, type MetricValueWithName } from "prom-client";

interface MetricShape {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  values: MetricValueWithName<string>[];
}

/**
 * Series by label values, one Map level per label: a lookup hashes the label strings themselves (constant names,
 * whose hashes V8 caches) instead of a key joined from them on every call.
 */
class SeriesTree<S> {
  private readonly root = new Map<string, unknown>();
  /** Every series, in the order first seen (the order they render in). */
  readonly all: S[] = [];

  constructor(
    private readonly labelNames: readonly string[],
    private readonly make: (labels: Record<string, string>) => S,
  ) {}

  get(values: readonly string[]): S {
    const last = this.labelNames.length - 1;
    let level = this.root;
    for (let i = 0; i < last; i++) {
      const v = values[i] ?? "";
      let next = level.get(v) as Map<string, unknown> | undefined;
      if (!next) level.set(v, (next = new Map()));
      level = next;
    }
    const key = values[last] ?? "";
    let s = level.get(key) as S | undefined;
    if (s === undefined) {
      s = this.make(labelsOf(this.labelNames, values));
      level.set(key, s);
      this.all.push(s);
    }
    return s;
  }
}

/** A counter keyed by label values in `labelNames` order. */
export class HotCounter {
  private readonly series: SeriesTree<{ labels: Record<string, string>; value: number }>;

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    registry: Registry,
  ) {
    this.series = new SeriesTree(labelNames, (labels) => ({ labels, value: 0 }));
    // The registry only needs `name` and `get()` from a metric.
    registry.registerMetric(this as unknown as Metric);
  }

  inc(...values: string[]): void {
    this.series.get(values).value++;
  }

  get(): MetricShape {
    const values = this.series.all.map((s) => ({ metricName: this.name, labels: s.labels, value: s.value }));
    return { name: this.name, help: this.help, type: "counter", aggregator: "sum", values };
  }
}

/** A histogram keyed by label values in `labelNames` order. */
export class HotHistogram {
  private readonly series: SeriesTree<{ labels: Record<string, string>; counts: Float64Array; sum: number }>;
  private readonly bounds: readonly number[];

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    registry: Registry,
  ) {
    const bounds = [...buckets].sort((a, b) => a - b);
    this.bounds = bounds;
    this.series = new SeriesTree(labelNames, (labels) => ({
      labels,
      counts: new Float64Array(bounds.length + 1),
      sum: 0,
    }));
    registry.registerMetric(this as unknown as Metric);
  }

  observe(value: number, ...values: string[]): void {
    const s = this.series.get(values);
    s.sum += value;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    s.counts[i]!++; // the last slot is +Inf only
  }

  get(): MetricShape {
    const values: MetricValueWithName<string>[] = [];
    for (const s of this.series.all) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...s.labels, le: this.bounds[i]! },
          value: cumulative,
        });
      }
      const count = cumulative + s.counts[this.bounds.length]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: "+Inf" }, value: count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: count });
    }
    return { name: this.name, help: this.help, type: "histogram", aggregator: "sum", values };
  }
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  names.forEach((n, i) => (labels[n] = values[i] ?? ""));
  return labels;
}

export class RouterMetrics {
  readonly registry = new Registry();
  /** inc(model, status, strategy) */
  readonly requests = new HotCounter(
    "aibrix_router_requests_total",
    "Requests by model, HTTP status and routing strategy",
    ["model", "status", "strategy"],
    this.registry,
  );
  /** observe(seconds, strategy) */
  readonly decisionSeconds = new HotHistogram(
    "aibrix_router_routing_decision_seconds",
    "Time spent picking an endpoint",
    ["strategy"],
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01],
    this.registry,
  );
  /** observe(seconds, kind, plugin): each filter, scorer and picker call of a pick. */
  readonly pluginSeconds = new HotHistogram(
    "aibrix_router_picking_plugin_seconds",
    "Time spent in one picking plugin (filter, scorer or picker) per pick",
    ["kind", "plugin"],
    [0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001],
    this.registry,
  );
  /** observe(seconds, model) */
  readonly upstreamTtft = new HotHistogram(
    "aibrix_router_upstream_ttft_seconds",
    "Time from sending to an engine to its first response byte",
    ["model"],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    this.registry,
  );
  readonly retries = new Counter({
    name: "aibrix_router_retries_total",
    help: "Requests re-sent to another endpoint after a failure before the first byte",
    labelNames: ["model", "reason"] as const,
    registers: [this.registry],
  });
  readonly ejections = new Counter({
    name: "aibrix_router_ejections_total",
    help: "Endpoints ejected for a cool-down after consecutive failures",
    labelNames: ["endpoint"] as const,
    registers: [this.registry],
  });
  readonly prefillWaits = new Counter({
    name: "aibrix_router_prefill_waits_total",
    help:
      "Requests that waited for an engine to finish their prefix for another request, by how the wait ended " +
      "(stored: the engine reported it; released: that request ended first; timeout)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly kvEventBatches = new Counter({
    name: "aibrix_router_kv_event_batches_total",
    help: "KV event batches received from each engine, replayed ones included",
    labelNames: ["endpoint"] as const,
    registers: [this.registry],
  });
  readonly kvEventGaps = new Counter({
    name: "aibrix_router_kv_event_gaps_total",
    help: "Breaks in an engine's KV event sequence (filled from its replay socket when it has one)",
    labelNames: ["endpoint"] as const,
    registers: [this.registry],
  });
  /** What `kvIndexBlocks` reports at each scrape: endpoint id → blocks held. */
  private kvIndexSource: () => Iterable<[string, number]> = () => [];
  readonly kvIndexBlocks = new Gauge({
    name: "aibrix_router_kv_index_blocks",
    help: "KV blocks each engine holds according to its KV events (the exact prefix index)",
    labelNames: ["endpoint"] as const,
    registers: [this.registry],
    // Every worker of a pool indexes the same events: the pool's figure is one worker's, not their sum.
    aggregator: "max",
    collect: () => {
      this.kvIndexBlocks.reset();
      for (const [endpoint, blocks] of this.kvIndexSource()) this.kvIndexBlocks.set({ endpoint }, blocks);
    },
  });
  readonly streamErrors = new Counter({
    name: "aibrix_router_stream_errors_total",
    help: "Upstream failures after the first byte (stream ended with an error event)",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });

  /** Report `read()` (endpoint id → blocks) as `aibrix_router_kv_index_blocks` from now on. */
  observeKvIndex(read: () => Iterable<[string, number]>): void {
    this.kvIndexSource = read;
  }

  /** Drop an endpoint's KV event series when it leaves the pool. */
  forgetKvEndpoint(endpoint: string): void {
    this.kvEventBatches.remove(endpoint);
    this.kvEventGaps.remove(endpoint);
  }
}
