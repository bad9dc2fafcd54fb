// vLLM's Prometheus metrics for one simulated engine, in a registry of its own (several simulators can share a
// process). Names and labels follow vLLM V1; every duration is simulated seconds.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Engine, FinishReason, StepObserver } from "./engine.js";
import { FastHistogram } from "./fast-histogram.js";

// vLLM's bucket boundaries.
const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0,
  640.0, 2560.0,
];
const ITL_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const E2E_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0,
  7680.0,
];

export interface MetricSources {
  engine: Engine;
  maxLoras: number;
  /** Forced gauge values (fault injection), by metric name. */
  overrides: Map<string, number>;
}

export class EngineMetrics {
  readonly registry = new Registry();
  private readonly promptTokens: Counter<"model_name">;
  private readonly generationTokens: Counter<"model_name">;
  private readonly prefixQueries: Counter<"model_name">;
  private readonly prefixHits: Counter<"model_name">;
  private readonly externalQueries: Counter<"model_name">;
  private readonly externalHits: Counter<"model_name">;
  private readonly preemptions: Counter<"model_name">;
  private readonly success: Counter<"model_name" | "finished_reason">;
  private readonly ttft: Histogram<"model_name">;
  private readonly itl: FastHistogram;
  private readonly tpot: FastHistogram;
  /** Generated tokens not yet added to the counter (added on scrape: one increment per token is too dear). */
  private pendingGenerated = 0;
  private readonly e2e: Histogram<"model_name">;
  private readonly queueTime: Histogram<"model_name">;
  private readonly labels: { model_name: string };

  constructor(model: string, src: MetricSources) {
    const registers = [this.registry];
    this.labels = { model_name: model };
    const labelNames = ["model_name"] as const;
    registerStateGauges(model, src, this.registry);
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers });
    this.promptTokens = counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.");
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.generationTokens = new Counter({
      name: "vllm:generation_tokens_total",
      help: "Number of generation tokens processed.",
      labelNames,
      registers,
      collect() {
        if (self.pendingGenerated > 0) {
          this.inc({ model_name: model }, self.pendingGenerated);
          self.pendingGenerated = 0;
        }
      },
    });
    this.prefixQueries = counter(
      "vllm:prefix_cache_queries_total",
      "Prefix cache queries, in terms of number of queried tokens.",
    );
    this.prefixHits = counter(
      "vllm:prefix_cache_hits_total",
      "Prefix cache hits, in terms of number of cached tokens.",
    );
    this.externalQueries = counter(
      "vllm:external_prefix_cache_queries_total",
      "External prefix cache queries from KV connector cross-instance cache sharing, in terms of number of queried tokens.",
    );
    this.externalHits = counter(
      "vllm:external_prefix_cache_hits_total",
      "External prefix cache hits from KV connector cross-instance cache sharing, in terms of number of cached tokens.",
    );
    this.preemptions = counter("vllm:num_preemptions_total", "Cumulative number of preemption from the engine.");
    this.success = new Counter({
      name: "vllm:request_success_total",
      help: "Count of successfully processed requests.",
      labelNames: ["model_name", "finished_reason"] as const,
      registers,
    });
    this.exportAtZero(src.engine.sharedTier !== undefined);
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames, buckets, registers });
    this.ttft = histogram(
      "vllm:time_to_first_token_seconds",
      "Histogram of time to first token in seconds.",
      TTFT_BUCKETS,
    );
    this.itl = new FastHistogram({
      name: "vllm:inter_token_latency_seconds",
      help: "Histogram of inter-token latency in seconds.",
      buckets: ITL_BUCKETS,
      labels: this.labels,
      registry: this.registry,
    });
    this.tpot = new FastHistogram({
      name: "vllm:request_time_per_output_token_seconds",
      help: "Histogram of time_per_output_token_seconds per request.",
      buckets: ITL_BUCKETS,
      labels: this.labels,
      registry: this.registry,
    });
    this.e2e = histogram(
      "vllm:e2e_request_latency_seconds",
      "Histogram of end to end request latency in seconds.",
      E2E_BUCKETS,
    );
    this.queueTime = histogram(
      "vllm:request_queue_time_seconds",
      "Histogram of time spent in WAITING phase for request.",
      E2E_BUCKETS,
    );
  }

  /** vLLM exports its counters from the start, at zero (the external ones only with a KV connector). */
  private exportAtZero(sharedTier: boolean): void {
    const counters = [this.promptTokens, this.generationTokens, this.prefixQueries, this.prefixHits, this.preemptions];
    if (sharedTier) counters.push(this.externalQueries, this.externalHits);
    for (const c of counters) c.inc(this.labels, 0);
  }

  /** The engine hooks that feed these metrics. */
  observer(): StepObserver {
    const l = this.labels;
    const itl = this.itl;
    const tpot = this.tpot;
    return {
      onAdmitted: (q) => this.queueTime.observe(l, q),
      onPrefixLookup: (queried, hit) => {
        this.prefixQueries.inc(l, queried);
        if (hit > 0) this.prefixHits.inc(l, hit);
      },
      onExternalLookup: (queried, loaded) => {
        this.externalQueries.inc(l, queried);
        if (loaded > 0) this.externalHits.inc(l, loaded);
      },
      onPreempted: () => this.preemptions.inc(l),
      onFirstToken: (ttft, prompt) => {
        this.ttft.observe(l, ttft);
        this.promptTokens.inc(l, prompt);
        this.pendingGenerated++;
      },
      onInterToken: (s) => {
        itl.observe(s);
        tpot.observe(s);
        this.pendingGenerated++;
      },
      onFinished: (reason: FinishReason, e2e: number) => {
        if (reason === "abort") return;
        this.success.inc({ ...l, finished_reason: reason });
        this.e2e.observe(l, e2e);
      },
    };
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The engine's state as vLLM reports it: running and waiting requests, KV usage, cache config and LoRA info. */
function registerStateGauges(model: string, src: MetricSources, registry: Registry): void {
  const registers = [registry];
  const labelNames = ["model_name"] as const;
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect(this: Gauge<"model_name">) {
        this.set({ model_name: model }, src.overrides.get(name) ?? read());
      },
    });
  gauge("vllm:num_requests_running", "Number of requests in model execution batches.", () => src.engine.numRunning);
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", () => src.engine.numWaiting);
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", () => src.engine.pool.usage());
  // vLLM 0.32 has no gpu_cache_usage_perc; cache_config_info tells routers the block size and hash algorithm.
  const cache = src.engine.config;
  new Gauge({
    name: "vllm:cache_config_info",
    help: "Information of the LLMEngine CacheConfig",
    labelNames: ["block_size", "num_gpu_blocks", "enable_prefix_caching", "prefix_caching_hash_algo"] as const,
    registers,
  }).set(
    {
      block_size: String(cache.blockSize),
      num_gpu_blocks: String(cache.numGpuBlocks),
      enable_prefix_caching: "True",
      prefix_caching_hash_algo: cache.prefixHashAlgo ?? "sha256",
    },
    1,
  );
  new Gauge({
    name: "vllm:lora_requests_info",
    help: "Running stats on lora requests.",
    labelNames: ["max_lora", "running_lora_adapters", "waiting_lora_adapters"] as const,
    registers,
    collect(this: Gauge<"max_lora" | "running_lora_adapters" | "waiting_lora_adapters">) {
      this.reset();
      this.set(
        {
          max_lora: String(src.maxLoras),
          running_lora_adapters: src.engine.runningLoras().join(","),
          waiting_lora_adapters: src.engine.waitingLoras().join(","),
        },
        Date.now() / 1000,
      );
    },
  });
}
