// least-request: fewest requests in flight from this router.
import type { Scorer } from "../types.js";
import { fixedScorer } from "../plugin.js";

/** Router-tracked in-flight requests: always fresh, never stale. */
export const leastRequest: Scorer = {
  name: "least-request",
  score(_req, cands, out) {
    for (let i = 0; i < cands.length; i++) out[i] = -cands[i]!.inFlight;
  },
};

export const plugin = fixedScorer(leastRequest, "fewest requests in flight from this router (always current)");
