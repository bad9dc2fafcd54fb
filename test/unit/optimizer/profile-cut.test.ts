import { expect } from "chai";
import {
  cutProfile,
  isSteady,
  meetsSlo,
  meetsSloAtAnyLength,
  percentiles,
  steadyRequests,
  STEADY_SPANS,
  type SweepRow,
} from "../../../optimizer/profiling/cut.js";
import { simulatedPoint } from "../../../cli/simulated-sweep.js";

const lat = (p99: number) => ({ mean: p99 / 2, p50: p99 / 2, p90: p99 * 0.8, p99 });
function row(
  inputTokens: number,
  outputTokens: number,
  rate: number,
  e2eP99: number,
  extra: Partial<SweepRow> = {},
): SweepRow {
  return {
    inputTokens,
    outputTokens,
    rate,
    achievedRate: rate,
    samples: 64,
    // Long enough to be steady unless a test says otherwise.
    arrivalSpan: 100 * e2eP99,
    failures: 0,
    e2e: lat(e2eP99),
    ttft: lat(e2eP99 / 10),
    tpot: lat(0.02),
    ...extra,
  };
}

describe("profile cutting at an SLO", () => {
  const slo = { percentile: 99, e2e: 5 };

  it("keeps the highest rate whose p99 holds and that the engine kept up with; 0 where none qualifies", () => {
    const rows = [
      row(128, 4, 1, 1),
      row(128, 4, 8, 2),
      row(128, 4, 64, 4.9),
      row(128, 4, 128, 9), // SLO missed
      row(2048, 4, 1, 2),
      row(2048, 4, 8, 4, { achievedRate: 6 }), // fell behind: 6 < 0.9 × 8
      row(128, 512, 1, 12), // never meets 5 s
    ];
    const p = cutProfile(rows, {
      gpu: "A100",
      cost: 3.67,
      slo,
      inputBuckets: [128, 2048],
      outputBuckets: [4, 512],
      created: 1,
    });
    expect(p.tputs).to.deep.equal([
      [64, 1],
      [0, 0],
    ]);
    expect(p.e2e![0]![0]).to.equal(4.9);
    expect(p.indexes).to.deep.equal([
      [4, 512],
      [128, 2048],
    ]);
    expect(p.slos).to.deep.equal(slo);
  });

  it("a point with failures never qualifies; the percentile picks the statistic; bad percentiles are refused", () => {
    expect(meetsSlo(row(128, 4, 1, 1, { failures: 1 }), slo)).to.equal(false);
    expect(meetsSlo(row(128, 4, 1, 6), { percentile: 50, e2e: 5 })).to.equal(true); // p50 = 3
    expect(meetsSlo(row(128, 4, 1, 6), { percentile: 90, e2e: 5 })).to.equal(true); // p90 = 4.8
    expect(meetsSlo(row(128, 4, 1, 1), { percentile: 99, ttft: 0.05 })).to.equal(false); // ttft p99 = 0.1
    expect(() => meetsSlo(row(128, 4, 1, 1), { percentile: 95, e2e: 5 })).to.throw(
      /percentile 95: must be 0 \(mean\), 50, 90 or 99/,
    );
  });

  it("a point counts only at steady state: arrivals over at least STEADY_SPANS median E2Es", () => {
    // 100 requests at 64 req/s whose median E2E is 8 s: the burst (1.6 s) fits in the engine's batch, latencies look
    // fine and completions keep pace, yet it says nothing of 64 req/s sustained.
    const burst = row(128, 512, 64, 16, { samples: 100, arrivalSpan: 1.6 });
    expect(meetsSloAtAnyLength(burst, { percentile: 99, e2e: 20 })).to.equal(true);
    expect(isSteady(burst)).to.equal(false);
    expect(meetsSlo(burst, { percentile: 99, e2e: 20 })).to.equal(false);
    expect(isSteady({ ...burst, arrivalSpan: STEADY_SPANS * 8 })).to.equal(true);
    expect(isSteady({ ...burst, arrivalSpan: STEADY_SPANS * 8 - 0.01 })).to.equal(false);
    // Rows written before the span was recorded: samples ÷ rate.
    const { arrivalSpan: _, ...old } = burst;
    expect(isSteady({ ...old, samples: 2048 })).to.equal(true); // 32 s ≥ 4 × 8 s
    expect(isSteady(old)).to.equal(false);
    // A cut ignores the unsteady point and keeps the highest steady one.
    const p = cutProfile([row(128, 512, 8, 16), burst], {
      gpu: "L40S",
      cost: 1.861,
      slo: { percentile: 99, e2e: 20 },
      inputBuckets: [128],
      outputBuckets: [512],
    });
    expect(p.tputs).to.deep.equal([[8]]);
  });

  it("steadyRequests: enough arrivals for STEADY_SPANS median E2Es with a quarter to spare, never below the minimum", () => {
    expect(steadyRequests(64, 8, 100)).to.equal(Math.ceil(64 * STEADY_SPANS * 8 * 1.25));
    expect(steadyRequests(0.5, 0.3, 100)).to.equal(100);
  });

  it("the simulator's L40S: a 100-request burst of 512-token answers at 64 req/s passes every bound but is not steady", function () {
    this.timeout(30_000);
    const point = simulatedPoint("l40s-8b", 128, 512, 64, 100);
    const shipped = { percentile: 99, ttft: 2, tpot: 0.1 };
    expect(meetsSloAtAnyLength(point, shipped), JSON.stringify(point)).to.equal(true);
    expect(isSteady(point)).to.equal(false);
    expect(meetsSlo(point, shipped)).to.equal(false);
  });

  it("percentiles are nearest-rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(values)).to.deep.equal({ mean: 50.5, p50: 50, p90: 90, p99: 99 });
  });
});
