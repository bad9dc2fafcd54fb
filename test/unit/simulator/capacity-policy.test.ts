import { expect } from "chai";
import type { EngineConfig } from "../../../simulator/engine.js";
import { runTrace, saturationRun, uniquePrompt, type TraceRequest } from "../../../simulator/offline.js";

// 20 blocks of 16 tokens: room for two requests of 40 prompt + 60 output tokens (7 blocks each) to finish, not three.
const tight: EngineConfig = {
  blockSize: 16,
  numGpuBlocks: 20,
  maxNumSeqs: 4,
  maxNumBatchedTokens: 512,
  maxModelLen: 4096,
  maxLoras: 1,
  loraLoadSeconds: 0.05,
  step: { b0: 0.01, b1: 0.0001, b2: 0.001, b3: 0 },
};

describe("simulator/engine capacity policy", () => {
  it("preempt (default): lets every request in on its prompt's blocks and preempts when decode runs out", () => {
    const run = saturationRun(tight, 40, 60, 4);
    expect(run.preemptions).to.be.greaterThan(0);
    expect(run.prefillRecomputeRatio).to.be.greaterThan(1);
  });

  it("guaranteed-no-evict: lets a request in only when prompt + max_tokens fit beside the running ones' remainder", () => {
    const cfg: EngineConfig = { ...tight, capacityPolicy: "guaranteed-no-evict" };
    const run = saturationRun(cfg, 40, 60, 4);
    expect(run.preemptions).to.equal(0);
    expect(run.prefillRecomputeRatio).to.equal(1);
    // Two run at a time (14 of 20 blocks reserved; a third would need 7 more).
    expect(run.meanBatch).to.be.at.most(2);
    const trace: TraceRequest[] = [0, 1, 2].map((i) => ({ at: 0, promptTokens: uniquePrompt(i, 40), maxTokens: 60 }));
    const r = runTrace(cfg, trace).results;
    // The third starts only when one of the first two finishes, so its first token comes after theirs finish.
    const firstDone = Math.min(r[0]!.e2e, r[1]!.e2e);
    expect(r[2]!.ttft).to.be.greaterThan(firstDone);
    for (const x of r) expect(x.generated).to.equal(60);
  });

  it("guaranteed-no-evict counts the blocks a running request already holds, not its whole footprint twice", () => {
    // 14 blocks: exactly two requests of 7 blocks each; both must run together from the first step.
    const cfg: EngineConfig = { ...tight, numGpuBlocks: 14, capacityPolicy: "guaranteed-no-evict" };
    const trace: TraceRequest[] = [0, 1].map((i) => ({ at: 0, promptTokens: uniquePrompt(i, 40), maxTokens: 60 }));
    const run = runTrace(cfg, trace);
    expect(run.results[0]!.ttft).to.equal(run.results[1]!.ttft);
    expect(run.preemptions).to.equal(0);
  });
});
