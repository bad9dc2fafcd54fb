// kv-prefix: exact prefix affinity from the engines' KV events.
import { scorerPlugin } from "../plugin.js";
import type { KvBlockIndex } from "../kv-index.js";
import type { PrefixIndex } from "../prefix-index.js";
import type { PickRequest, Scorer } from "../types.js";
import {
  DEFAULT_OFFLOADED_BLOCK_WEIGHT,
  engineKeysFor,
  fillFromDepths,
  loadBound,
  placeNewPrefix,
  PrefixParameters,
  type PrefixScorerOptions,
} from "./prefix-affinity.js";

/** An engine reports a prompt's blocks only after its prefill: blocks routed this recently count as held. */
const REPORT_GRACE_MS = 5000;

/**
 * What a block the router sent an endpoint earlier (within the routing history's TTL) but that the endpoint does not
 * report counts for, against 1 for a reported block. Under KV pressure a tenant's blocks age out of every engine
 * between its requests; its engine is still where it belongs, as prefix-cache would send it: a tenant moved to
 * whichever engine is least loaded now occupies two caches, and the pressure rises for every tenant. So the history
 * must outweigh the load term of a pipeline (kv-prefix-load's least-request, a third of kv-prefix's weight) as a
 * reported block does; it stays just under 1 so that, of two engines the router sent a prefix to, the one that
 * reports holding it wins.
 */
const UNREPORTED_BLOCK_WEIGHT = 0.9;

/**
 * Exact prefix affinity from the engines' KV events (the engine's own block keys), with the load guard, and the
 * router's own routing history (`routed`: the history prefix-cache keeps, in the engine's keys; its owner sweeps it,
 * off the request path) in three roles: blocks routed in the last few seconds count as held (a burst sharing a new
 * prefix must not scatter before the first report); older routed blocks count for a little less; and a prefix
 * neither knows is placed on the endpoint the router has sent the fewest blocks, not by the blocks engines report: a
 * prefix-caching engine keeps finished requests' blocks until it needs the room, so every cache is full in steady
 * state, and a one-block difference between two full caches says nothing about which serves fewer tenants.
 * When the engine's keys cannot be computed (see `engineKeysFor`) the request is scored by `fallback`, the
 * approximate prefix-cache scorer, and `onFallback` says so once per model: never a silent miss.
 */
export function kvPrefixScorer(
  index: KvBlockIndex,
  o: PrefixScorerOptions,
  routed: PrefixIndex,
  fallback?: Scorer,
  onFallback: (model: string) => void = () => {},
): Scorer {
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
      const history = routed.matchDepthsAndRecent(req.model, hashes, ids, env.now, REPORT_GRACE_MS);
      raiseDepths(depths, history.all, UNREPORTED_BLOCK_WEIGHT);
      raiseDepths(depths, history.recent, 1);
      if (depths.size > 0) return fillFromDepths(cands, out, depths, hashes.length, bound);
      placeNewPrefix(cands, out, (id) => routed.blocksOf(id), bound);
    },
    onPicked(req, ep, env) {
      const hashes = engineKeysFor(req, [ep], o);
      if (hashes === undefined) fallback?.onPicked?.(req, ep, env);
      else if (hashes.length > 0) routed.insert(req.model, hashes, ep.id, env.now);
    },
  };
}

/** Raise each endpoint's depth in `depths` to `weight` × its depth in `more`. */
function raiseDepths(depths: Map<string, number>, more: Map<string, number>, weight: number): void {
  for (const [id, d] of more) if (d * weight > (depths.get(id) ?? 0)) depths.set(id, d * weight);
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
      ctx.routedBlockKeys,
      ctx.serving("prefix-cache"),
      ctx.onKvPrefixFallback,
    ),
});
