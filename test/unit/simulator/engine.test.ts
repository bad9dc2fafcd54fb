import { expect } from "chai";
import { blockKeys } from "../../../api/block-hash.js";
import { Engine, type EngineConfig } from "../../../simulator/engine.js";
import { runTrace, saturationRun, uniquePrompt, type TraceRequest } from "../../../simulator/offline.js";
import { calibrations, engineConfigFor, getCalibration } from "../../../simulator/calibrations.js";

const base: EngineConfig = {
  blockSize: 16,
  numGpuBlocks: 1000,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 512,
  maxModelLen: 4096,
  maxLoras: 1,
  loraLoadSeconds: 0.05,
  step: { b0: 0.01, b1: 0.0001, b2: 0.001, b3: 0 },
};

const close = (a: number, b: number) => expect(a).to.be.closeTo(b, 1e-9);

describe("simulator/engine", () => {
  it("single request: TTFT is one prefill step, ITL one decode step", () => {
    const run = runTrace(base, [{ at: 0, promptTokens: uniquePrompt(0, 100), maxTokens: 5 }]);
    const r = run.results[0]!;
    close(r.ttft, 0.01 + 100 * 0.0001);
    expect(r.itls).to.have.length(4);
    for (const itl of r.itls) close(itl, 0.01 + 0.001);
    expect(r.generated).to.equal(5);
    expect(r.finishReason).to.equal("length");
  });

  it("chunks a prompt longer than the token budget over several steps", () => {
    const run = runTrace(base, [{ at: 0, promptTokens: uniquePrompt(0, 1200), maxTokens: 1 }]);
    // 512 + 512 + 176 tokens: three steps.
    close(run.results[0]!.ttft, 3 * 0.01 + 1200 * 0.0001);
    expect(run.steps).to.equal(3);
  });

  it("batches decodes of concurrent requests into one step and caps running requests at maxNumSeqs", () => {
    const trace: TraceRequest[] = [];
    for (let i = 0; i < 12; i++) trace.push({ at: 0, promptTokens: uniquePrompt(i, 16), maxTokens: 10 });
    const run = runTrace(base, trace);
    // 8 run at once; the other 4 start when the first finish.
    const firstTtfts = run.results.slice(0, 8).map((r) => r.ttft);
    const lateTtfts = run.results.slice(8).map((r) => r.ttft);
    expect(Math.max(...firstTtfts)).to.be.lessThan(Math.min(...lateTtfts));
    close(run.results[0]!.itls[0]!, 0.01 + 8 * 0.001);
  });

  it("reuses cached prefix blocks: a repeated prompt prefills only the uncached tail", () => {
    const prompt = uniquePrompt(7, 320);
    const run = runTrace(base, [
      { at: 0, promptTokens: prompt, maxTokens: 1 },
      { at: 1, promptTokens: prompt, maxTokens: 1 },
    ]);
    close(run.results[0]!.ttft, 0.01 + 320 * 0.0001);
    // 320 tokens = 20 full blocks; the last token is always recomputed, so 19 blocks hit and 16 tokens run.
    close(run.results[1]!.ttft, 0.01 + 16 * 0.0001);
  });

  it("preempts the newest request when blocks run out, and every request still finishes", () => {
    const cfg = { ...base, numGpuBlocks: 20, maxNumSeqs: 4 };
    const trace: TraceRequest[] = [];
    for (let i = 0; i < 4; i++) trace.push({ at: 0, promptTokens: uniquePrompt(i, 40), maxTokens: 60 });
    const run = runTrace(cfg, trace);
    expect(run.preemptions).to.be.greaterThan(0);
    for (const r of run.results) expect(r.generated).to.equal(60);
    expect(run.engine.pool.freeBlocks).to.equal(20);
  });

  it("counts the prompt tokens computed and the sequences per step of a run", () => {
    const run = runTrace(base, [{ at: 0, promptTokens: uniquePrompt(0, 1200), maxTokens: 3 }]);
    // Three prefill chunks, then two decode steps: one sequence in each of five steps.
    expect(run.prefillTokens).to.equal(1200);
    expect(run.steps).to.equal(5);
    expect(run.scheduledSeqs).to.equal(5);
  });

  it("saturation run: throughput from the makespan, recomputed prefill after preemption above 1", () => {
    const roomy = saturationRun(base, 32, 10, 4);
    // Four 32-token prompts in one step, then nine decode steps of four.
    close(roomy.outputTokS, 40 / (0.01 + 128 * 0.0001 + 9 * (0.01 + 4 * 0.001)));
    expect(roomy.preemptions).to.equal(0);
    expect(roomy.prefillRecomputeRatio).to.equal(1);
    expect(roomy.meanBatch).to.equal(4);
    const tight = saturationRun({ ...base, numGpuBlocks: 20, maxNumSeqs: 4 }, 40, 60, 4);
    expect(tight.preemptions).to.be.greaterThan(0);
    expect(tight.prefillRecomputeRatio).to.be.greaterThan(1);
  });

  it("holds a request whose adapter cannot get a LoRA slot until one frees, and charges the load", () => {
    const trace: TraceRequest[] = [
      { at: 0, promptTokens: uniquePrompt(0, 16), maxTokens: 5, lora: { name: "a", id: 1 } },
      { at: 0, promptTokens: uniquePrompt(1, 16), maxTokens: 5, lora: { name: "b", id: 2 } },
    ];
    const run = runTrace(base, trace);
    const [a, b] = run.results;
    close(a!.ttft, 0.01 + 16 * 0.0001 + 0.05);
    expect(b!.ttft).to.be.greaterThan(a!.e2e);
  });

  it("never admits a request before its arrival time", () => {
    const engine = new Engine(base);
    engine.submit(
      {
        id: "late",
        promptTokens: uniquePrompt(0, 16),
        maxTokens: 1,
        finishReason: "length",
        outputToken: () => 1,
        onToken: () => undefined,
        onFinish: () => undefined,
      },
      5,
    );
    expect(engine.plan(1)).to.equal(null);
    expect(engine.nextArrival()).to.equal(5);
    expect(engine.plan(5)?.prefillTokens).to.equal(16);
  });

  it("emits BlockStored events whose hashes a router can rebuild from the prompt", () => {
    const engine = new Engine(base);
    const prompt = uniquePrompt(3, 50);
    runTrace(base, [{ at: 0, promptTokens: prompt, maxTokens: 1 }], engine);
    const events = engine.drainKvEvents();
    const stored = events.filter((e) => e.type === "BlockStored");
    expect(stored).to.have.length(1);
    const e = stored[0]!;
    if (e.type !== "BlockStored") throw new Error("unreachable");
    expect(e.blockHashes).to.deep.equal(blockKeys(prompt, 16, { algo: "sha256" }));
    expect(e.parentBlockHash).to.equal(null);
    expect(e.tokenIds).to.deep.equal(prompt.slice(0, 48));
  });

  it("every calibration builds an engine config with positive coefficients and figures", () => {
    expect(calibrations().size).to.be.greaterThanOrEqual(6);
    for (const name of ["h100-8b", "a100-8b", "l40s-8b", "a10g-8b", "l4-8b", "h100-32b"]) {
      const p = getCalibration(name);
      const cfg = engineConfigFor(p);
      expect(cfg.step.b0, name).to.be.greaterThan(0);
      expect(cfg.step.b1, name).to.be.greaterThan(0);
      expect(cfg.step.b2, name).to.be.at.least(0);
      // The fit's inputs: an ITL, a decode-heavy saturation figure, and a TTFT or a saturated-prefill figure for b1.
      const metrics = p.figures.map((f) => f.metric).sort();
      expect([
        ["itl_ms", "output_tok_s", "ttft_ms"],
        ["itl_ms", "output_tok_s", "output_tok_s"],
      ]).to.deep.include(metrics);
      for (const f of [...p.figures, ...(p.holdout ?? [])]) expect(f.source, name).to.be.a("string").and.not.equal("");
      // Held-out figures are never among the fitted ones.
      const fitted = new Set(p.figures.map((f) => `${f.metric} ${f.promptTokens}/${f.outputTokens}`));
      for (const f of p.holdout ?? [])
        expect(fitted.has(`${f.metric} ${f.promptTokens}/${f.outputTokens}`), f.id).to.equal(false);
    }
    expect(() => getCalibration("h900-1b")).to.throw(
      /calibration: "h900-1b" is not a known engine calibration; use one of/,
    );
  });
});
