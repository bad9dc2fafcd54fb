import { expect } from "chai";
import { parseTrace, whatIf } from "../../../cli/what-if.js";
import type { ReplayRequest } from "../../../simulator/fleet-replay.js";

const trace: ReplayRequest[] = Array.from({ length: 300 }, (_, i) => ({
  at: i * 0.05,
  inputTokens: 512,
  outputTokens: 128,
}));
const costs = { A10G: 1.01, "A100-80GB": 3.67 };
const slo = { percentile: 99, ttft: 2, tpot: 0.1 };

describe("what-if", () => {
  it("a fleet too small for the trace misses the SLO; enough replicas meet it; cost is the mix's", () => {
    const small = whatIf(trace, { A10G: 1 }, costs, slo);
    const big = whatIf(trace, { A10G: 2, "A100-80GB": 2 }, costs, slo);
    expect(small.requests).to.equal(300);
    expect(small.sloAttainment).to.be.lessThan(big.sloAttainment);
    expect(big.sloAttainment).to.be.at.least(0.99);
    expect(big.costPerHour).to.be.closeTo(2 * 1.01 + 2 * 3.67, 1e-9);
    expect(big.byType.A10G!.requests + big.byType["A100-80GB"]!.requests).to.equal(300);
    expect(big.ttft.p99).to.be.lessThan(small.ttft.p99);
  });

  it("names what is missing: an engine for a type, a cost, a trace field", () => {
    expect(() => whatIf(trace, { B200: 1 }, { B200: 9 }, slo)).to.throw(
      /GPU type B200: no simulator engine.*--engine B200=/,
    );
    expect(() => whatIf(trace, { A10G: 1 }, {}, slo)).to.throw(/GPU type A10G: no cost/);
    expect(parseTrace('{"at": 0, "input": 10, "output": 5}\n\n', "t")).to.deep.equal([
      { at: 0, inputTokens: 10, outputTokens: 5 },
    ]);
    expect(() => parseTrace('{"at": 0, "input": -1, "output": 5}', "t.jsonl")).to.throw(
      /t.jsonl:1: input must be a number >= 0/,
    );
    expect(() => parseTrace("nope", "t.jsonl")).to.throw(/t.jsonl:1: not JSON/);
  });
});
