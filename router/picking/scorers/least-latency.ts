// least-latency: lowest expected latency from the engine's own timing histograms.
import type { Scorer } from "../types.js";
import { fixedScorer } from "../plugin.js";

/** queue time + prefill time per prompt token · p̂ + decode time per generated token · ĝ (p̂, ĝ: fleet means). */
export const leastLatency: Scorer = {
  name: "least-latency",
  score(_req, cands, out, env) {
    let pSum = 0;
    let pN = 0;
    let gSum = 0;
    let gN = 0;
    for (const ep of cands) {
      if (ep.metrics.meanPromptTokens !== undefined) {
        pSum += ep.metrics.meanPromptTokens;
        pN++;
      }
      if (ep.metrics.meanGenerationTokens !== undefined) {
        gSum += ep.metrics.meanGenerationTokens;
        gN++;
      }
    }
    const pHat = pN > 0 ? pSum / pN : 10;
    const gHat = gN > 0 ? gSum / gN : 100;
    for (let i = 0; i < cands.length; i++) {
      const ep = cands[i]!;
      const m = ep.metrics;
      if (!ep.metricsFresh(env.now, env.staleAfterMs)) {
        out[i] = NaN;
        continue;
      }
      const prefillPerTok =
        m.meanPrefillTime !== undefined && m.meanPromptTokens ? m.meanPrefillTime / m.meanPromptTokens : undefined;
      const decodePerTok =
        m.meanDecodeTime !== undefined && m.meanGenerationTokens
          ? m.meanDecodeTime / m.meanGenerationTokens
          : m.meanTpot;
      if (m.meanQueueTime === undefined && prefillPerTok === undefined && decodePerTok === undefined) {
        out[i] = m.meanTtft === undefined ? NaN : -m.meanTtft;
        continue;
      }
      out[i] = -((m.meanQueueTime ?? 0) + (prefillPerTok ?? 0) * pHat + (decodePerTok ?? 0) * gHat);
    }
  },
};

export const plugin = fixedScorer(leastLatency, "lowest expected latency from the engine's timing histograms");
