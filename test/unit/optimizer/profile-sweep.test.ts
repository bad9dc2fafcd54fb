import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { STEADY_SPANS, type SweepRow } from "../../../optimizer/profiling/cut.js";
import { readRows, runSweep, type SweepPlan } from "../../../optimizer/profiling/sweep.js";

/**
 * An engine whose median E2E is `e2e` seconds at any rate up to `capacity` req/s, and which misses the SLO above it;
 * the span of a point's arrivals is requests ÷ rate.
 */
function engine(e2e: number, capacity: number) {
  const calls: { rate: number; requests: number }[] = [];
  const measure = async (input: number, output: number, rate: number, requests: number): Promise<SweepRow> => {
    calls.push({ rate, requests });
    const lat = rate <= capacity ? e2e : e2e * 10;
    const p = { mean: lat, p50: lat, p90: lat, p99: lat };
    return {
      inputTokens: input,
      outputTokens: output,
      rate,
      achievedRate: rate,
      samples: requests,
      arrivalSpan: requests / rate,
      failures: 0,
      e2e: p,
      ttft: { mean: 0.1, p50: 0.1, p90: 0.1, p99: 0.1 },
      tpot: { mean: 0.01, p50: 0.01, p90: 0.01, p99: 0.01 },
    };
  };
  return { calls, measure };
}

describe("profile sweep: points lengthened to steady state", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "sweep-unit-"))));
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const plan = (measure: SweepPlan["measure"], rowsFile: string): SweepPlan => ({
    url: "",
    model: "m",
    inputBuckets: [128],
    outputBuckets: [512],
    rates: [1, 8, 32, 64],
    requestsPerPoint: 50,
    slo: { percentile: 99, e2e: 20 },
    rowsFile,
    measure,
  });

  it("sizes each rate from the previous one, lengthens a passing short point, never lengthens a failing one", async () => {
    const e = engine(10, 32);
    const rows = await runSweep(plan(e.measure, path.join(dir, "rows.jsonl")));
    // 1 req/s × 50 requests = 50 s ≥ 4 × 10 s: steady at once. 8 req/s: sized from the 1 req/s point's 10 s median
    // (8 × 4 × 10 × 1.25 = 400 requests). 32 req/s: 1600. 64 req/s misses the SLO: kept as measured.
    expect(e.calls).to.deep.equal([
      { rate: 1, requests: 50 },
      { rate: 8, requests: 400 },
      { rate: 32, requests: 1600 },
      { rate: 64, requests: 3200 },
    ]);
    expect(rows.map((r) => r.rate)).to.deep.equal([1, 8, 32, 64]);
    for (const r of rows.slice(0, 3)) expect(r.arrivalSpan! / r.e2e.p50).to.be.at.least(STEADY_SPANS);
  });

  it("a point that passes but ran short is measured again, longer, until steady or at the cap", async () => {
    const e = engine(10, 64);
    const p = { ...plan(e.measure, path.join(dir, "rows.jsonl")), rates: [16], maxRequestsPerPoint: 500 };
    const rows = await runSweep(p);
    // No previous rate: 50 requests (3 s) are not steady; the point is run again at min(cap, 16 × 4 × 10 × 1.25).
    expect(e.calls).to.deep.equal([
      { rate: 16, requests: 50 },
      { rate: 16, requests: 500 },
    ]);
    expect(rows).to.have.length(1);
    expect(rows[0]!.samples).to.equal(500);
    // Both measurements are in the rows file; the last one of a point wins on resume.
    expect((await readRows(p.rowsFile)).map((r) => r.samples)).to.deep.equal([50, 500]);
    // At the cap (500 requests, 31 s < 40 s) the point is final: not steady, so the cut leaves it out, and a resumed
    // sweep does not measure it again.
    const resumed = engine(10, 64);
    const again = await runSweep({ ...p, measure: resumed.measure });
    expect(resumed.calls).to.deep.equal([]);
    expect(again[0]!.samples).to.equal(500);
  });

  it("on resume, a stored point that passed without being steady is measured again; one that missed the SLO is kept", async () => {
    const rowsFile = path.join(dir, "rows.jsonl");
    const e = engine(10, 32);
    const short = await e.measure(128, 512, 8, 50); // 6.25 s < 40 s, passes
    const failed = await e.measure(128, 512, 64, 50); // misses the SLO
    await writeFile(rowsFile, [short, failed].map((r) => JSON.stringify(r)).join("\n") + "\n");
    const resumed = engine(10, 32);
    const rows = await runSweep({ ...plan(resumed.measure, rowsFile), rates: [8, 64] });
    expect(resumed.calls).to.deep.equal([{ rate: 8, requests: 400 }]);
    expect(rows.map((r) => r.samples)).to.deep.equal([400, 50]);
    expect((await readFile(rowsFile, "utf8")).trim().split("\n")).to.have.length(3);
  });
});
