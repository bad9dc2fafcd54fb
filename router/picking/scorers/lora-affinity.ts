// lora-affinity: prefer endpoints where the requested adapter runs, or can be loaded.
import type { Scorer } from "../types.js";
import { fixedScorer } from "../plugin.js";

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

export const plugin = fixedScorer(loraAffinity, "the requested adapter running, else a free adapter slot");
