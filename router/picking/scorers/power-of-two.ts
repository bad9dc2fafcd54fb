// power-of-two: two random candidates, the less loaded one wins.
import type { Candidate, Scorer } from "../types.js";
import { fixedScorer } from "../plugin.js";

/** Power of two choices over a count: two distinct random candidates, the lower count wins (ties to the first). */
export function powerOfTwoBy(name: string, count: (ep: Candidate) => number): Scorer {
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

export const plugin = fixedScorer(powerOfTwo, "two random candidates, fewer in flight wins");
