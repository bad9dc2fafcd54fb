import { expect } from "chai";
import { cutProfile, meetsSlo, percentiles, type SweepRow } from "../../../optimizer/profiling/cut.js";

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

  it("percentiles are nearest-rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(values)).to.deep.equal({ mean: 50.5, p50: 50, p90: 90, p99: 99 });
  });
});
