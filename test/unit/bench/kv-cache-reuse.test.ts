import { expect } from "chai";
import { ModelTokenizer } from "../../../api/model-tokenizer.js";
import { getCalibration, SIMULATOR_TOKENIZER_DIR } from "../../../simulator/index.js";
import { settings, summarize, type RoundStats } from "../../../bench/kv-cache-reuse/main.js";
import { rng, TokenText } from "../../../bench/lib/token-text.js";
import { corpus, questionPrompt, turnPrompt } from "../../../bench/kv-cache-reuse/workload.js";

describe("kv-cache-reuse benchmark", () => {
  let text: TokenText;
  before(async () => {
    text = new TokenText(await ModelTokenizer.load(SIMULATOR_TOKENIZER_DIR));
  });

  it("sizes prompts in the engines' own tokens, so the working set it states is the one the engines hold", () => {
    const p = settings(false);
    const docs = corpus(text, { ...p.shape, documents: 2, conversations: 2 });
    // Under ten tokens of markup ("Document:", the beginning-of-sequence token) beyond the stated size, never 3× it.
    for (const d of docs.documents) expect(text.count(d) - p.shape.documentTokens).to.be.within(0, 8);
    for (const o of docs.openings) expect(text.count(o) - p.shape.systemTokens).to.be.within(0, 8);
    const q = questionPrompt(text, docs.documents[0]!, p.shape, rng(3));
    expect(text.count(q) - text.count(docs.documents[0]!) - p.shape.questionTokens).to.be.within(0, 16);
    expect(p.workingSetOverFleetGpuKv).to.be.within(4, 8);
  });

  it("every prompt of a full conversation fits the engines' context (an over-long prompt is a 400, not a sample)", () => {
    const p = settings(false);
    const maxModelLen = Math.min(getCalibration(p.profile).engine.maxModelLen, p.gpuBlocksPerEngine * p.blockSize);
    const [opening] = corpus(text, { ...p.shape, documents: 1, conversations: 1 }).openings;
    let history = opening!;
    const r = rng(5);
    for (let turn = 0; turn < p.shape.turns; turn++) {
      const prompt = turnPrompt(text, history, p.shape, r);
      expect(text.count(prompt) + p.shape.outputTokens).to.be.at.most(maxModelLen);
      history = prompt + text.words(p.shape.outputTokens, r);
    }
    const longest = text.count(history);
    expect(longest).to.be.within(
      p.shape.systemTokens + p.shape.turns * 128,
      p.shape.systemTokens + p.shape.turns * 140,
    );
  });

  it("summarises per-round ratios of the tier against no tier in the same round, with their spread", () => {
    const stats = (config: RoundStats["config"], round: number, rps: number, p50: number, tier = 0): RoundStats => ({
      config,
      round,
      requests: 10,
      errors: config === "shared-tier" && round === 2 ? 1 : 0,
      errorReasons: [],
      healthCheckTakeouts: 0,
      ttft_p50_s: p50,
      ttft_p99_s: p50 * 2,
      first_touches: 3,
      ttft_p99_repeat_s: p50,
      throughput_rps: rps,
      gpu_hit_rate: 0.2,
      tier_hit_rate: tier,
    });
    const s = summarize([
      stats("prefix-cache-only", 1, 2, 1),
      stats("shared-tier", 1, 4, 0.25, 0.5),
      stats("shared-tier", 2, 3, 0.5, 0.7),
      stats("prefix-cache-only", 2, 2, 1),
      stats("prefix-cache-only", 3, 1, 2),
      stats("shared-tier", 3, 3, 0.4, 0.6),
    ]);
    expect(s.throughput_x_no_tier).to.equal(2); // 2, 1.5, 3
    expect(s.throughput_x_no_tier_spread).to.equal(1.5);
    expect(s.ttft_p50_x_no_tier).to.equal(4); // 4, 2, 5
    expect(s.ttft_p99_x_no_tier).to.equal(4);
    expect(s.ttft_p99_repeat_x_no_tier).to.equal(4);
    expect(s.shared_tier_hit_rate).to.equal(0.6);
    expect(s.no_tier_throughput_rps).to.equal(2);
    expect(s.errors).to.equal(1);
  });
});
