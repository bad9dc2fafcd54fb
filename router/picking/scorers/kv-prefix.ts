// kv-prefix: exact prefix affinity from the engines' KV events.
import { scorerPlugin } from "../plugin.js";
import type { KvBlockIndex } from "../kv-index.js";
import { PrefixIndex } from "../prefix-index.js";
import type { PickRequest, Scorer } from "../types.js";
import {
  DEFAULT_OFFLOADED_BLOCK_WEIGHT,
  defaultPrefixScorerOptions,
  engineKeysFor,
  fillFromDepths,
  loadBound,
  placeNewPrefix,
  PrefixParameters,
  type PrefixScorerOptions,
} from "./prefix-affinity.js";

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

export const plugin = scorerPlugin({
  name: "kv-prefix",
  summary:
    "exact prefix affinity from the engines' KV events (needs the model's tokenizer; else scores like prefix-cache)",
  parameters: PrefixParameters,
  create: (params, ctx) =>
    kvPrefixScorer(
      ctx.kvIndex,
      { ...ctx.prefixOptions, ...params },
      undefined,
      ctx.serving("prefix-cache"),
      ctx.onKvPrefixFallback,
    ),
});
