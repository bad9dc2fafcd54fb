// What routing-quality measures, fixed before any measurement: the engine fleet, the five workloads, the offered
// rates of each workload's sweep, how long each point runs, and the routers compared. Results are only comparable
// between runs of the same plan, so a change here is a change of method (say so in the result's commit).
//
// Offered rates are set against each workload's full-prefill capacity C0: the requests per second the fleet serves
// when no prompt token is found in a prefix cache. On a10g-8b (step time 32.1 ms + 128 µs per prefill token, 2,048
// tokens per step) a prompt of N uncached tokens costs about N × 128 µs + N / 2,048 × 32 ms, so a 2,200-token
// request costs ~0.32 s and two engines serve C0 ≈ 6.3 req/s. Each sweep runs from light load (~0.3 C0) to past C0
// (~1.4–1.6 C0): cache-blind routing saturates there, and cache-aware routing shows what its hits buy.

/** Simulated engines: the same fleet for every workload and router. */
export const FLEET = {
  calibration: "a10g-8b",
  replicas: 2,
  /**
   * KV blocks per engine (16 tokens each): 1,600 × 16 = 25,600 tokens, a fleet of 51,200. Small enough that the
   * shared-prefix tenants of the KV-pressure workload overfill it, large enough that the other workloads fit.
   */
  numGpuBlocks: 1600,
} as const;

/** Each point of a sweep: warm-up (not measured), then the measured window; simulated seconds. */
export const POINT = {
  /** The first point of a sweep starts on cold caches: a longer warm-up. */
  firstWarmupSeconds: 20,
  warmupSeconds: 10,
  measuredSeconds: 60,
} as const;

/** Rounds: every (workload, router) sweep is run this many times, on a fresh fleet and router each time. */
export const ROUNDS = 3;

export interface SharedPrefixMix {
  tenants: number;
  prefixTokens: number;
  questionTokens: number;
  outputTokens: number;
}

export interface ConversationMix {
  systemTokens: number;
  userTokens: number;
  outputTokens: number;
  turns: number;
  /** Pause between a reply and the next turn (simulated seconds). */
  thinkSeconds: number;
}

export interface UniqueMix {
  promptTokens: number;
  outputTokens: number;
}

/**
 * A workload: arrivals are Poisson at the offered rate, each arrival one of the kinds below by weight (a conversation
 * arrival is its first turn; its later turns follow the replies).
 */
export interface WorkloadPlan {
  name: string;
  description: string;
  /** Offered arrivals per simulated second, ascending: the sweep. */
  rates: readonly number[];
  shared?: SharedPrefixMix & { weight: number };
  conversation?: ConversationMix & { weight: number };
  unique?: UniqueMix & { weight: number };
}

const SHARED_SHAPE = { prefixTokens: 2000, questionTokens: 200, outputTokens: 32 };

export const WORKLOADS: readonly WorkloadPlan[] = [
  {
    name: "shared-prefix-kv-pressure",
    description:
      "24 tenants, each request a tenant's 2,000-token system prompt and a 200-token question: the prefixes need 0.94× the fleet's KV, so engines evict and where a tenant's requests go decides what stays cached",
    rates: [2, 4, 6.5, 9],
    shared: { ...SHARED_SHAPE, tenants: 24, weight: 1 },
  },
  {
    name: "shared-prefix",
    description:
      "8 tenants of the same shape: the prefixes need 0.31× the fleet's KV, so every engine can hold every tenant (no KV pressure)",
    rates: [2, 4, 6.5, 9],
    shared: { ...SHARED_SHAPE, tenants: 8, weight: 1 },
  },
  {
    name: "multi-turn",
    description:
      "chat conversations: a 1,500-token system prompt unique to each, 4 turns of 150 user tokens and 64 reply tokens, 2 s between a reply and the next turn; rates are conversations started per second (4 requests each)",
    rates: [0.4, 0.8, 1.4, 2],
    conversation: { systemTokens: 1500, userTokens: 150, outputTokens: 64, turns: 4, thinkSeconds: 2, weight: 1 },
  },
  {
    name: "no-sharing",
    description:
      "2,000-token prompts that share nothing, 32 output tokens: no cache to win, routing is load balancing alone",
    rates: [2, 4, 7, 10],
    unique: { promptTokens: 2000, outputTokens: 32, weight: 1 },
  },
  {
    name: "mixed",
    description:
      "arrivals half shared-prefix (16 tenants, the shape above), a quarter no-sharing 2,000-token prompts, a quarter chat conversations (3 turns)",
    rates: [1.5, 3, 5, 7],
    shared: { ...SHARED_SHAPE, tenants: 16, weight: 0.5 },
    unique: { promptTokens: 2000, outputTokens: 32, weight: 0.25 },
    conversation: { systemTokens: 1500, userTokens: 150, outputTokens: 64, turns: 3, thinkSeconds: 2, weight: 0.25 },
  },
];

/** A router under test, with product defaults unless `config` overrides them (reference arms only). */
export type RouterPlan =
  | { name: string; ours: string; needsKvEvents?: boolean; config?: Record<string, unknown> }
  | { name: string; peer: "sglang-router" | "vllm-router"; policy: string };

export const PREFIX_CACHE = "aibrix-ts prefix-cache";
export const PREFIX_CACHE_AIBRIX_GUARD = "aibrix-ts prefix-cache AIBrix guard";
export const KV_PREFIX_LOAD = "aibrix-ts kv-prefix-load";
export const RANDOM = "aibrix-ts random";
export const SGLANG = "sglang-router cache_aware";
export const VLLM = "vllm-router cache_aware";

export const ROUTERS: readonly RouterPlan[] = [
  /** The floor: placement that knows nothing. */
  { name: RANDOM, ours: "random" },
  /** Ours without engine KV events: an approximate prefix tree of what was sent where, as sglang-router's. */
  { name: PREFIX_CACHE, ours: "prefix-cache" },
  /**
   * The same with AIBrix's load guard (affinity set aside at a gap of 8 in flight, whatever the load): beside the
   * default so that what the guard's setting does is measured, not argued.
   */
  { name: PREFIX_CACHE_AIBRIX_GUARD, ours: "prefix-cache", config: { prefix: { imbalanceAbs: 8, imbalanceRel: 1 } } },
  /** Ours with engine KV events: reported apart, since the peers' cache_aware policies have no such input. */
  { name: KV_PREFIX_LOAD, ours: "kv-prefix-load", needsKvEvents: true },
  { name: SGLANG, peer: "sglang-router", policy: "cache_aware" },
  /** vllm-router's default policy. */
  { name: VLLM, peer: "vllm-router", policy: "cache_aware" },
];
