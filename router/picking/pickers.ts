// The pickers: how the winner is chosen from the candidates' weighted total scores.
import type { Picker, PickerName } from "./types.js";

/** Highest total wins; ties among the best are broken uniformly at random (reservoir sampling). */
export const maxScore: Picker = {
  name: "max-score",
  choose(total) {
    const n = total.length;
    let best = 0;
    let ties = 1;
    const eps = 1e-9;
    for (let i = 1; i < n; i++) {
      const d = total[i]! - total[best]!;
      if (d > eps) {
        best = i;
        ties = 1;
      } else if (d > -eps) {
        ties++;
        if (Math.random() * ties < 1) best = i;
      }
    }
    return best;
  },
};

/** Uniformly at random, scores ignored. */
export const randomPicker: Picker = {
  name: "random",
  choose(total) {
    return Math.floor(Math.random() * total.length);
  },
};

/** At random in proportion to the (non-negative) totals; uniformly when they are all 0. */
export const weightedRandom: Picker = {
  name: "weighted-random",
  choose(total) {
    const n = total.length;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.max(0, total[i]!);
    if (sum > 0) {
      let r = Math.random() * sum;
      for (let i = 0; i < n; i++) {
        r -= Math.max(0, total[i]!);
        if (r <= 0) return i;
      }
    }
    return Math.floor(Math.random() * n);
  },
};

export const PICKERS: Readonly<Record<PickerName, Picker>> = {
  "max-score": maxScore,
  random: randomPicker,
  "weighted-random": weightedRandom,
};
