// prefix-cache: approximate prefix affinity learned from the router's own routing history.
import { scorerPlugin } from "../plugin.js";
import type { PrefixIndex } from "../prefix-index.js";
import type { Scorer } from "../types.js";
import {
  defaultPrefixScorerOptions,
  fillFromDepths,
  loadBound,
  placeNewPrefix,
  PrefixParameters,
  type PrefixScorerOptions,
} from "./prefix-affinity.js";

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

export const plugin = scorerPlugin({
  name: "prefix-cache",
  summary: "approximate prefix affinity learned from routing history, yielding to balance when load is uneven",
  parameters: PrefixParameters,
  create: (params, ctx) => prefixCacheScorer(ctx.prefixIndex, { ...ctx.prefixOptions, ...params }),
});
