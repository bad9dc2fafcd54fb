// random: no opinion about any endpoint, so the picker chooses uniformly.
import type { Scorer } from "../types.js";
import { fixedScorer } from "../plugin.js";

export const randomScorer: Scorer = {
  name: "random",
  score(_req, cands, out) {
    out.fill(NaN, 0, cands.length);
  },
};

export const plugin = fixedScorer(randomScorer, "no opinion: the picker chooses uniformly");
