// The scorers behind every strategy name. Each fills raw scores (higher is better, NaN = no opinion); metric-based
// scorers give stale endpoints no opinion, so an endpoint whose numbers are old never wins on them.
import { isPrefixHashAlgo } from "../../api/block-hash.js";
import type { LoraKey } from "../engine-prompt.js";
import type { Endpoint } from "../endpoints.js";
import type { KvBlockIndex } from "./kv-index.js";
import { PrefixIndex } from "./prefix-index.js";
import type { PickEnv, PickRequest, Scorer } from "./types.js";

/** Lower metric is better; stale or missing metric → no opinion. */
function lowerMetric(name: string, read: (ep: Endpoint, env: PickEnv) => number | undefined): Scorer {
  return {
    name,
    score(_req, cands, out, env) {
      for (let i = 0; i < cands.length; i++) {
        const ep = cands[i]!;
        const v = ep.metricsFresh(env.now, env.staleAfterMs) ? read(ep, env) : undefined;
        out[i] = v === undefined || !Number.isFinite(v) ? NaN : -v;
      }
    },
  };
}

export const randomScorer: Scorer = {
  name: "random",
  score(_req, cands, out) {
    out.fill(NaN, 0, cands.length);
  },
};

/** Router-tracked in-flight requests: always fresh, never stale. */
export const leastRequest: Scorer = {
  name: "least-request",
  score(_req, cands, out) {
    for (let i = 0; i < cands.length; i++) out[i] = -cands[i]!.inFlight;
  },
};

export const throughput = lowerMetric("throughput", (ep) =>
  ep.promptTps === undefined && ep.genTps === undefined ? undefined : 2 * (ep.promptTps ?? 0) + (ep.genTps ?? 0),
);

export const leastKvCache = lowerMetric("least-kv-cache", (ep) =>
  ep.metrics.kvUsage === undefined ? undefined : ep.metrics.kvUsage + (ep.metrics.cpuKvUsage ?? 0),
);

export const leastGpuCache = lowerMetric("least-gpu-cache", (ep) => ep.metrics.kvUsage);

/** Busy time: share of recent scrapes in which the engine was running something (EWMA). */
export const leastBusyTime = lowerMetric("least-busy-time", (ep) => ep.busyRatio);

/** Utilisation as saturation detectors define it: max(queue/5, kv/0.8); 1 = at threshold. */
export const leastUtilization = lowerMetric("least-utilization", (ep) => utilization(ep));

export function utilization(ep: Endpoint): number | undefined {
  const { waiting, kvUsage } = ep.metrics;
  if (waiting === undefined && kvUsage === undefined) return undefined;
  return Math.max((waiting ?? 0) / 5, (kvUsage ?? 0) / 0.8);
}

/** queue time + prefill time per prompt token · p̂ + decode time per generated token · ĝ (p̂, ĝ: fleet means). */
export const leastLatency: Scorer = {
  name: "least-latency",
  score(_req, cands, out, env) {
    let pSum = 0;
    let pN = 0;
    let gSum = 0;
    let gN = 0;
    for (const ep of cands) {
      if (ep.metrics.meanPromptTokens !== undefined) {
        pSum += ep.metrics.meanPromptTokens;
        pN++;
      }
      if (ep.metrics.meanGenerationTokens !== undefined) {
        gSum += ep.metrics.meanGenerationTokens;
        gN++;
      }
    }
    const pHat = pN > 0 ? pSum / pN : 10;
    const gHat = gN > 0 ? gSum / gN : 100;
    for (let i = 0; i < cands.length; i++) {
      const ep = cands[i]!;
      const m = ep.metrics;
      if (!ep.metricsFresh(env.now, env.staleAfterMs)) {
        out[i] = NaN;
        continue;
      }
      const prefillPerTok =
        m.meanPrefillTime !== undefined && m.meanPromptTokens ? m.meanPrefillTime / m.meanPromptTokens : undefined;
      const decodePerTok =
        m.meanDecodeTime !== undefined && m.meanGenerationTokens
          ? m.meanDecodeTime / m.meanGenerationTokens
          : m.meanTpot;
      if (m.meanQueueTime === undefined && prefillPerTok === undefined && decodePerTok === undefined) {
        out[i] = m.meanTtft === undefined ? NaN : -m.meanTtft;
        continue;
      }
      out[i] = -((m.meanQueueTime ?? 0) + (prefillPerTok ?? 0) * pHat + (decodePerTok ?? 0) * gHat);
    }
  },
};

/** Power of two choices over a count: two distinct random candidates, the lower count wins (ties to the first). */
export function powerOfTwoBy(name: string, count: (ep: Endpoint) => number): Scorer {
  return {
    name,
    prescaled: true,
    score(_req, cands, out) {
      out.fill(0, 0, cands.length);
      if (cands.length === 1) {
        out[0] = 1;
        return;
      }
      const a = Math.floor(Math.random() * cands.length);
      let b = Math.floor(Math.random() * (cands.length - 1));
      if (b >= a) b++;
      const ca = count(cands[a]!);
      const cb = count(cands[b]!);
      out[a] = ca <= cb ? 1 : 0.5;
      out[b] = ca <= cb ? 0.5 : 1;
    },
  };
}

/** Two random candidates; the one with fewer in-flight requests wins (local counts). */
export const powerOfTwo: Scorer = powerOfTwoBy("power-of-two", (ep) => ep.inFlight);

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

export function fnv1a64(s: string): bigint {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(s, "utf8")) {
    h ^= BigInt(byte);
    h = BigInt.asUintN(64, h * FNV_PRIME);
  }
  return h;
}

export function encodeSessionId(endpointId: string): string {
  return Buffer.from(endpointId, "utf8").toString("base64");
}

export function decodeSessionId(v: string): string | undefined {
  const s = Buffer.from(v, "base64").toString("utf8");
  return /^[^\s:]+:\d{1,5}$/.test(s) ? s : undefined;
}

/**
 * `x-session-id` (base64 `ip:port`) whose endpoint is still a candidate → it; else `x-aibrix-session-key` →
 * rendezvous hash (max FNV-1a of key‖"#"‖ip:port, ties to the smaller address); else no opinion (random).
 */
export const sessionAffinity: Scorer = {
  name: "session-affinity",
  prescaled: true,
  score(req, cands, out) {
    out.fill(NaN, 0, cands.length);
    const sid = req.headers["x-session-id"];
    if (typeof sid === "string" && sid) {
      const target = decodeSessionId(sid);
      const idx = target ? cands.findIndex((c) => c.id === target) : -1;
      if (idx >= 0) {
        out.fill(0, 0, cands.length);
        out[idx] = 1;
        return;
      }
    }
    const key = req.headers["x-aibrix-session-key"];
    if (typeof key === "string" && key && key.length <= 256) {
      let best = -1;
      let bestH = -1n;
      for (let i = 0; i < cands.length; i++) {
        const h = fnv1a64(`${key}#${cands[i]!.id}`);
        if (h > bestH || (h === bestH && cands[i]!.id < cands[best]!.id)) {
          best = i;
          bestH = h;
        }
      }
      out.fill(0, 0, cands.length);
      out[best] = 1;
    }
  },
};

export interface PrefixScorerOptions {
  blockSize: number;
  /** Skip prefix affinity when max − min in-flight across candidates exceeds this (and `imbalanceRel` holds). */
  imbalanceAbs: number;
  /**
   * ...and the busiest candidate has more than this many times the in-flight requests of the idlest (1 = any
   * gap over `imbalanceAbs` counts). Under heavy load a fixed gap is a small difference; sglang-router's
   * cache-aware policy uses both conditions (64 and 1.5 by default).
   */
  imbalanceRel?: number;
  /** Endpoints with in-flight above mean + k·σ get no prefix credit. */
  stdDevFactor: number;
  /**
   * Credit per block an engine would load from an offload or shared tier (KV events with a `medium` other than
   * GPU), against 1 for a block in its GPU and 0 for one to compute (default 0.5).
   */
  offloadedBlockWeight?: number;
}

/** A loaded block costs a transfer, a computed one a prefill: credit half way between. */
export const DEFAULT_OFFLOADED_BLOCK_WEIGHT = 0.5;

export const defaultPrefixScorerOptions: PrefixScorerOptions = { blockSize: 16, imbalanceAbs: 8, stdDevFactor: 1 };

/** Load guard shared by both prefix scorers: undefined = imbalanced (no prefix opinion), else the in-flight bound. */
function loadBound(cands: readonly Endpoint[], o: PrefixScorerOptions): number | undefined {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const c of cands) {
    min = Math.min(min, c.inFlight);
    max = Math.max(max, c.inFlight);
    sum += c.inFlight;
  }
  if (max - min > o.imbalanceAbs && max > (o.imbalanceRel ?? 1) * min) return undefined;
  const mean = sum / cands.length;
  let v = 0;
  for (const c of cands) v += (c.inFlight - mean) ** 2;
  return mean + o.stdDevFactor * Math.sqrt(v / cands.length);
}

function fillFromDepths(
  cands: readonly Endpoint[],
  out: Float64Array,
  depths: Map<string, number>,
  blocks: number,
  bound: number,
): void {
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i]!;
    out[i] = c.inFlight > bound ? 0 : (depths.get(c.id) ?? 0) / blocks;
  }
}

/** Credit (of 1, a full prefix match) for holding the fewest blocks when no endpoint holds the prefix. */
const NEW_PREFIX_CREDIT = 0.5;

/**
 * A prefix no endpoint holds goes to the endpoint holding the fewest blocks, as sglang-router's cache-aware policy
 * puts it on the smallest tree. A new prefix is usually a new tenant or conversation that will keep coming back, so
 * this spreads them evenly; whichever endpoint had the fewest requests in flight at the instant each first arrived
 * would leave one endpoint with a tenant more than another for the whole run. Credit is min-max over the blocks
 * held, so it outweighs a least-request tie-break of equal weight.
 */
function placeNewPrefix(
  cands: readonly Endpoint[],
  out: Float64Array,
  held: (id: string) => number,
  bound: number,
): void {
  let fewest = Infinity;
  let most = 0;
  for (let i = 0; i < cands.length; i++) {
    const n = held(cands[i]!.id);
    out[i] = n;
    if (n < fewest) fewest = n;
    if (n > most) most = n;
  }
  const span = most - fewest;
  for (let i = 0; i < cands.length; i++) {
    out[i] =
      cands[i]!.inFlight > bound ? 0 : span === 0 ? NEW_PREFIX_CREDIT : (NEW_PREFIX_CREDIT * (most - out[i]!)) / span;
  }
}

/** Approximate prefix affinity learned from routing history, with the load-imbalance guard. */
export function prefixCacheScorer(index: PrefixIndex, o: PrefixScorerOptions = defaultPrefixScorerOptions): Scorer {
  return {
    name: "prefix-cache",
    prescaled: true,
    score(req, cands, out, env) {
      const hashes = req.hashes(o.blockSize);
      const bound = hashes.length === 0 ? undefined : loadBound(cands, o);
      if (bound === undefined) {
        out.fill(0, 0, cands.length);
        return;
      }
      const depths = index.matchDepths(
        req.model,
        hashes,
        cands.map((c) => c.id),
        env.now,
      );
      if (depths.size > 0) return fillFromDepths(cands, out, depths, hashes.length, bound);
      placeNewPrefix(cands, out, (id) => index.blocksOf(id), bound);
    },
    onPicked(req, ep, env) {
      const hashes = req.hashes(o.blockSize);
      if (hashes.length > 0) index.insert(req.model, hashes, ep.id, env.now);
    },
  };
}

/**
 * The keys the candidates' KV events name the request's blocks by: the engine's tokens and vLLM's block hash, for
 * the block size and hash algorithm the engines report (candidates of one model share them) and, for an adapter,
 * the path the engines loaded it from. Undefined when they cannot be known: no tokenizer for the model, an algorithm
 * seeded per process (xxhash), an adapter whose path an engine has not reported, or engines that disagree.
 */
export function engineKeysFor(
  req: PickRequest,
  cands: readonly Endpoint[],
  o: PrefixScorerOptions,
): readonly bigint[] | undefined {
  const first = cands[0];
  if (!req.engineKeys || !first) return undefined;
  const algo = first.metrics.prefixHashAlgo ?? "sha256";
  if (!isPrefixHashAlgo(algo)) return undefined;
  let lora: LoraKey | undefined;
  if (req.adapter) {
    const path = first.adapterPaths.get(req.adapter);
    if (path === undefined || cands.some((c) => c.adapterPaths.get(req.adapter!) !== path)) return undefined;
    lora = { name: req.adapter, path };
  }
  return req.engineKeys(first.metrics.blockSize ?? o.blockSize, algo, lora);
}

/**
 * Exact prefix affinity from the engines' KV events (the engine's own block keys), with the load guard.
 * Routing decisions are also remembered for a few seconds (speculative entries): the engine reports blocks only
 * after prefill, and a burst of requests sharing a new prefix must not scatter before the first report arrives.
 * When the engine's keys cannot be computed (see `engineKeysFor`) the request is scored by `fallback`, the
 * approximate prefix-cache scorer, and `onFallback` says so once per model: never a silent miss.
 */
export function kvPrefixScorer(
  index: KvBlockIndex,
  o: PrefixScorerOptions = defaultPrefixScorerOptions,
  speculative = new PrefixIndex({ maxBlocks: 100_000, ttlMs: 5000 }),
  fallback?: Scorer,
  onFallback: (model: string) => void = () => {},
): Scorer {
  let lastSweep = 0;
  const warned = new Set<string>();
  const fellBack = (req: PickRequest) => {
    if (!warned.has(req.model) && warned.size < 1000) {
      warned.add(req.model);
      onFallback(req.model);
    }
  };
  return {
    name: "kv-prefix",
    prescaled: true,
    score(req, cands, out, env) {
      const hashes = engineKeysFor(req, cands, o);
      if (hashes === undefined) {
        fellBack(req);
        if (fallback) return fallback.score(req, cands, out, env);
        out.fill(0, 0, cands.length);
        return;
      }
      // Same load guard as the approximate scorer: affinity yields to balance when the fleet is uneven.
      const bound = hashes.length === 0 ? undefined : loadBound(cands, o);
      if (bound === undefined) {
        out.fill(0, 0, cands.length);
        return;
      }
      const ids = cands.map((c) => c.id);
      const depths = index.weightedDepths(hashes, ids, o.offloadedBlockWeight ?? DEFAULT_OFFLOADED_BLOCK_WEIGHT);
      for (const [id, d] of speculative.matchDepths(req.model, hashes, ids, env.now)) {
        if (d > (depths.get(id) ?? 0)) depths.set(id, d);
      }
      if (depths.size > 0) return fillFromDepths(cands, out, depths, hashes.length, bound);
      // Engine-reported blocks lag prefill and speculative entries lapse after a TTL, so an endpoint holds about the
      // larger of the two (their sum would count a finished prefill twice and an unfinished one once).
      if (env.now - lastSweep > 1000) {
        speculative.sweep(env.now);
        lastSweep = env.now;
      }
      placeNewPrefix(cands, out, (id) => Math.max(index.blocks(id), speculative.blocksOf(id)), bound);
    },
    onPicked(req, ep, env) {
      const hashes = engineKeysFor(req, [ep], o);
      if (hashes === undefined) fallback?.onPicked?.(req, ep, env);
      else if (hashes.length > 0) speculative.insert(req.model, hashes, ep.id, env.now);
    },
  };
}

/** Engine queue depth (waiting requests), GIE's queue scorer; stale → no opinion. */
export const queueScorer = lowerMetric("queue", (ep) => ep.metrics.waiting);

/** LoRA affinity: adapter already running 1.0, free slot 0.8, adapter waiting 0.6, full 0. */
export const loraAffinity: Scorer = {
  name: "lora-affinity",
  prescaled: true,
  score(req, cands, out, env) {
    if (!req.adapter) {
      out.fill(1, 0, cands.length);
      return;
    }
    for (let i = 0; i < cands.length; i++) {
      const ep = cands[i]!;
      // Residency changes slowly: the last scrape counts however old, but it should stay current while used.
      ep.wantMetrics(env.now);
      const l = ep.metrics.lora;
      if (!l) {
        out[i] = 1;
        continue;
      }
      if (l.running.includes(req.adapter)) out[i] = 1;
      else if ((ep.freeAdapterSlots() ?? 1) > 0) out[i] = 0.8;
      else if (l.waiting.includes(req.adapter)) out[i] = 0.6;
      else out[i] = 0;
    }
  },
};
