// kv-prefix: exact prefix affinity from the engines' KV events.
import { scorerPlugin } from "../plugin.js";
import type { KvBlockIndex } from "../kv-index.js";
import { defaultPrefixIndexOptions, PrefixIndex } from "../prefix-index.js";
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
 * A prefix no engine holds is placed by the blocks the router has sent each endpoint (`routed`, the history
 * prefix-cache keeps), not by the blocks engines report holding: a prefix-caching engine keeps finished requests'
 * blocks until it needs the room, so every cache is full in steady state (and after a router restart, replayed), and
 * a one-block difference between two full caches says nothing about which serves fewer tenants.
 * When the engine's keys cannot be computed (see `engineKeysFor`) the request is scored by `fallback`, the
 * approximate prefix-cache scorer, and `onFallback` says so once per model: never a silent miss.
 */
export function kvPrefixScorer(
  index: KvBlockIndex,
  o: PrefixScorerOptions = defaultPrefixScorerOptions,
  speculative = new PrefixIndex({ maxBlocks: 100_000, ttlMs: 5000 }),
  fallback?: Scorer,
  onFallback: (model: string) => void = () => {},
  routed = new PrefixIndex(defaultPrefixIndexOptions),
): Scorer {
  let lastSweep = 0;
  let lastRoutedSweep = 0;
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
      if (env.now - lastSweep > 1000) {
        speculative.sweep(env.now);
        lastSweep = env.now;
      }
      if (env.now - lastRoutedSweep > 10_000) {
        routed.sweep(env.now);
        lastRoutedSweep = env.now;
      }
      placeNewPrefix(cands, out, (id) => routed.blocksOf(id), bound);
    },
    onPicked(req, ep, env) {
      const hashes = engineKeysFor(req, [ep], o);
      if (hashes === undefined) fallback?.onPicked?.(req, ep, env);
      else if (hashes.length > 0) {
        speculative.insert(req.model, hashes, ep.id, env.now);
        routed.insert(req.model, hashes, ep.id, env.now);
      }
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
