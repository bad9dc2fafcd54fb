import { expect } from "chai";
import { attentionPairs, stepSeconds, tallyStep } from "../../../simulator/step-cost.js";
import { Engine, type EngineConfig } from "../../../simulator/engine.js";
import { runTrace, uniquePrompt } from "../../../simulator/offline.js";

const close = (a: number, b: number) => expect(a).to.be.closeTo(b, 1e-12);

const base: EngineConfig = {
  blockSize: 16,
  numGpuBlocks: 1000,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 512,
  maxModelLen: 4096,
  maxLoras: 1,
  loraLoadSeconds: 0.05,
  step: { b0: 0.01, b1: 0.0001, b2: 0.001, b3: 1e-6, b4: 1e-7 },
};

describe("simulator/step-cost", () => {
  it("counts attention pairs of a chunk: each token attends to itself and every token before it", () => {
    expect(attentionPairs(0, 1)).to.equal(1);
    expect(attentionPairs(0, 4)).to.equal(1 + 2 + 3 + 4);
    // A second chunk of 3 after 4 computed tokens: positions 5, 6, 7.
    expect(attentionPairs(4, 3)).to.equal(5 + 6 + 7);
    // Two chunks sum to the whole prompt's pairs, so chunking does not change the attention cost.
    expect(attentionPairs(0, 300) + attentionPairs(300, 212)).to.equal(attentionPairs(0, 512));
  });

  it("tallies prefill, decode, context read and attention pairs over a step's sequences", () => {
    const w = tallyStep([
      { computed: 0, tokens: 100, decoding: false },
      { computed: 100, tokens: 50, decoding: false },
      { computed: 300, tokens: 1, decoding: true },
      { computed: 40, tokens: 1, decoding: true },
    ]);
    expect(w).to.deep.equal({
      prefillTokens: 150,
      decodeTokens: 2,
      contextTokens: 340,
      attentionPairs: attentionPairs(0, 100) + attentionPairs(100, 50),
    });
  });

  it("prices a step as b0 + b1·prefill + b2·decode + b3·context + b4·pairs, b4 absent meaning 0", () => {
    const w = { prefillTokens: 10, decodeTokens: 3, contextTokens: 700, attentionPairs: 55 };
    close(stepSeconds(base.step, w), 0.01 + 10 * 0.0001 + 3 * 0.001 + 700 * 1e-6 + 55 * 1e-7);
    const { b4: _, ...noB4 } = base.step;
    close(stepSeconds(noB4, w), 0.01 + 10 * 0.0001 + 3 * 0.001 + 700 * 1e-6);
  });

  it("the engine charges a long prompt's attention per token more than a short one's", () => {
    const ttft = (prompt: number) =>
      runTrace({ ...base, maxNumBatchedTokens: 4096 }, [{ at: 0, promptTokens: uniquePrompt(0, prompt), maxTokens: 1 }])
        .results[0]!.ttft;
    close(ttft(100), 0.01 + 100 * 0.0001 + attentionPairs(0, 100) * 1e-7);
    close(ttft(2000), 0.01 + 2000 * 0.0001 + attentionPairs(0, 2000) * 1e-7);
    expect((ttft(2000) - 0.01) / 2000).to.be.greaterThan((ttft(100) - 0.01) / 100);
  });

  it("a chunked prompt costs the same attention as one pass; each chunk pays for the tokens before it", () => {
    const engine = new Engine(base);
    engine.submit(
      {
        id: "a",
        promptTokens: uniquePrompt(0, 800),
        maxTokens: 1,
        finishReason: "length",
        outputToken: (i) => i,
        onToken: () => undefined,
        onFinish: () => undefined,
      },
      0,
    );
    const first = engine.plan(0)!;
    expect(first.prefillTokens).to.equal(512);
    expect(first.attentionPairs).to.equal(attentionPairs(0, 512));
    engine.commit(first, first.duration);
    const second = engine.plan(first.duration)!;
    expect(second.prefillTokens).to.equal(288);
    expect(second.attentionPairs).to.equal(attentionPairs(512, 288));
    expect(first.attentionPairs + second.attentionPairs).to.equal(attentionPairs(0, 800));
  });
});
