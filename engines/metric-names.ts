// Metric-name maps for the engines we speak to, and the reduction of one scrape into the few numbers routing needs.
import { parsePrometheusText, type Sample } from "./prometheus.js";

export type EngineKind = "vllm" | "sglang";

/** One scrape, reduced. Histogram-derived values are cumulative means (sum/count) since engine start. */
export interface EngineMetrics {
  running?: number;
  waiting?: number;
  /** GPU KV-cache usage, 0..1. */
  kvUsage?: number;
  /** CPU (offload) KV-cache usage, 0..1 (older vLLM only). */
  cpuKvUsage?: number;
  promptTokensTotal?: number;
  generationTokensTotal?: number;
  /** SGLang reports generation throughput directly (tok/s). */
  genThroughput?: number;
  meanTtft?: number;
  meanTpot?: number;
  meanQueueTime?: number;
  meanPrefillTime?: number;
  meanDecodeTime?: number;
  meanPromptTokens?: number;
  meanGenerationTokens?: number;
  prefixCacheHits?: number;
  prefixCacheQueries?: number;
  /** Cache hit rate 0..1 when the engine reports a rate rather than counters (SGLang). */
  cacheHitRate?: number;
  lora?: { maxLora: number; running: string[]; waiting: string[] };
  blockSize?: number;
  numGpuBlocks?: number;
  /** vLLM's `--prefix-caching-hash-algo` (`sha256`, `sha256_cbor`, `xxhash`, …), from `cache_config_info`. */
  prefixHashAlgo?: string;
}

type Scalar = Exclude<keyof EngineMetrics, "lora" | "prefixHashAlgo">;

interface NameMap {
  gauges: Record<string, Scalar>;
  /** Histogram base name → mean field (read from `_sum` and `_count`). */
  means: Record<string, Scalar>;
}

const VLLM: NameMap = {
  gauges: {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "vllm:kv_cache_usage_perc": "kvUsage",
    "vllm:gpu_cache_usage_perc": "kvUsage",
    "vllm:cpu_cache_usage_perc": "cpuKvUsage",
    "vllm:prompt_tokens_total": "promptTokensTotal",
    "vllm:generation_tokens_total": "generationTokensTotal",
    "vllm:prefix_cache_hits_total": "prefixCacheHits",
    "vllm:prefix_cache_queries_total": "prefixCacheQueries",
  },
  means: {
    "vllm:time_to_first_token_seconds": "meanTtft",
    "vllm:time_per_output_token_seconds": "meanTpot",
    "vllm:inter_token_latency_seconds": "meanTpot",
    "vllm:request_time_per_output_token_seconds": "meanTpot",
    "vllm:request_queue_time_seconds": "meanQueueTime",
    "vllm:request_prefill_time_seconds": "meanPrefillTime",
    "vllm:request_decode_time_seconds": "meanDecodeTime",
    "vllm:request_prompt_tokens": "meanPromptTokens",
    "vllm:request_generation_tokens": "meanGenerationTokens",
  },
};

const SGLANG: NameMap = {
  gauges: {
    "sglang:num_running_reqs": "running",
    "sglang:num_queue_reqs": "waiting",
    "sglang:token_usage": "kvUsage",
    "sglang:gen_throughput": "genThroughput",
    "sglang:cache_hit_rate": "cacheHitRate",
    "sglang:prompt_tokens_total": "promptTokensTotal",
    "sglang:generation_tokens_total": "generationTokensTotal",
  },
  means: {
    "sglang:time_to_first_token_seconds": "meanTtft",
    "sglang:inter_token_latency_seconds": "meanTpot",
    "sglang:time_per_output_token_seconds": "meanTpot",
  },
};

export const METRIC_NAMES: Record<EngineKind, NameMap> = { vllm: VLLM, sglang: SGLANG };

const RATIOS = new Set<Scalar>(["kvUsage", "cpuKvUsage", "cacheHitRate"]);
const LORA_INFO = "vllm:lora_requests_info";
const CACHE_CONFIG = "vllm:cache_config_info";

/** Names the scraper must read for `engine`: gauges, histogram `_sum`/`_count`, and the info gauges. */
function wantedNames(engine: EngineKind): Set<string> {
  const m = METRIC_NAMES[engine];
  const s = new Set<string>(Object.keys(m.gauges));
  for (const base of Object.keys(m.means)) {
    s.add(base + "_sum");
    s.add(base + "_count");
  }
  s.add(LORA_INFO);
  s.add(CACHE_CONFIG);
  return s;
}

const wantedCache = new Map<EngineKind, Set<string>>();

/** Parse one `/metrics` body from `engine` into `EngineMetrics`; samples of the same name are summed. */
export function parseEngineMetrics(text: string, engine: EngineKind): EngineMetrics {
  let wanted = wantedCache.get(engine);
  if (!wanted) wantedCache.set(engine, (wanted = wantedNames(engine)));
  const w = wanted;
  return reduceSamples(
    parsePrometheusText(text, (n) => w.has(n)),
    engine,
  );
}

export function reduceSamples(samples: Sample[], engine: EngineKind): EngineMetrics {
  const map = METRIC_NAMES[engine];
  const out: EngineMetrics = {};
  const sums = new Map<string, number>();
  let loraTs = -Infinity;
  for (const s of samples) {
    if (s.name === LORA_INFO) {
      // Gauge value is a timestamp; the newest sample describes the current state.
      if (s.value >= loraTs) {
        loraTs = s.value;
        out.lora = {
          maxLora: Number(s.labels.max_lora ?? 0) || 0,
          running: splitList(s.labels.running_lora_adapters),
          waiting: splitList(s.labels.waiting_lora_adapters),
        };
      }
      continue;
    }
    if (s.name === CACHE_CONFIG) {
      const bs = Number(s.labels.block_size);
      const nb = Number(s.labels.num_gpu_blocks);
      if (Number.isFinite(bs)) out.blockSize = bs;
      if (Number.isFinite(nb)) out.numGpuBlocks = nb;
      if (s.labels.prefix_caching_hash_algo) out.prefixHashAlgo = s.labels.prefix_caching_hash_algo;
      continue;
    }
    const gauge = map.gauges[s.name];
    if (gauge) {
      // Counts add up across series (data-parallel ranks); ratios do not, so the fullest rank speaks for the engine.
      const prev = out[gauge];
      out[gauge] = prev === undefined ? s.value : RATIOS.has(gauge) ? Math.max(prev, s.value) : prev + s.value;
      continue;
    }
    sums.set(s.name, (sums.get(s.name) ?? 0) + s.value);
  }
  for (const [base, field] of Object.entries(map.means)) {
    const count = sums.get(base + "_count");
    const sum = sums.get(base + "_sum");
    if (count !== undefined && sum !== undefined && count > 0) out[field] = sum / count;
  }
  return out;
}

function splitList(v: string | undefined): string[] {
  if (!v) return [];
  return v
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}
