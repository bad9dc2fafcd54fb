// random: no opinion about any endpoint, so the picker chooses uniformly.
import type { Scorer } from "../types.js";

export const randomScorer: Scorer = {
  name: "random",
  score(_req, cands, out) {
    out.fill(NaN, 0, cands.length);
  },
};
