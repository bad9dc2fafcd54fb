import { expect } from "chai";
import { bucketKey, parseBucketKey } from "../../../api/workload-signal.js";
import { WorkloadWindow } from "../../../optimizer/window.js";

const T0 = 1_700_000_000;

describe("optimizer workload window", () => {
  it("maps bucket keys to token counts and requests to keys (log2, rounded)", () => {
    expect(parseBucketKey("7-4")).to.deep.equal({ inputTokens: 128, outputTokens: 16 });
    expect(bucketKey(128, 16)).to.equal("7-4");
    expect(bucketKey(181, 22)).to.equal("7-4");
    expect(bucketKey(182, 23)).to.equal("8-5");
    expect(bucketKey(0, 1)).to.equal("0-0");
    expect(() => parseBucketKey("7_4")).to.throw(RangeError, /"7_4"/);
  });

  it("turns counts per 10 s into rates per bucket over the window", () => {
    const w = new WorkloadWindow(60, 10);
    for (let k = 1; k <= 6; k++) w.add({ time: T0 + 10 * k, counts: { "7-4": 30, "10-8": 10 } });
    const r = w.rates(T0 + 60);
    expect(r.meanRate).to.be.closeTo(4, 1e-9);
    expect(r.currentRate).to.be.closeTo(4, 1e-9);
    expect(r.totalRate).to.be.closeTo(4, 1e-9);
    expect(r.buckets).to.have.length(2);
    expect(r.buckets[0]).to.deep.include({ inputTokens: 128, outputTokens: 16 });
    expect(r.buckets[0]!.rate).to.be.closeTo(3, 1e-9);
    expect(r.buckets[1]).to.deep.include({ inputTokens: 1024, outputTokens: 256 });
    expect(r.buckets[1]!.rate).to.be.closeTo(1, 1e-9);
  });

  it("follows a rise at once and smooths a fall over the window", () => {
    const w = new WorkloadWindow(60, 10);
    for (let k = 1; k <= 5; k++) w.add({ time: T0 + 10 * k, counts: { "7-4": 10 } });
    w.add({ time: T0 + 60, counts: { "7-4": 100 } });
    const rise = w.rates(T0 + 60);
    expect(rise.currentRate).to.be.closeTo(10, 1e-9);
    expect(rise.meanRate).to.be.closeTo(150 / 60, 1e-9);
    expect(rise.totalRate).to.be.closeTo(10, 1e-9);
    w.add({ time: T0 + 70, counts: { "7-4": 0 } });
    const fall = w.rates(T0 + 70);
    expect(fall.currentRate).to.equal(0);
    // The window now covers (T0+10, T0+70]: 4 × 10 + 100 + 0 requests over 60 s.
    expect(fall.meanRate).to.be.closeTo(140 / 60, 1e-9);
    expect(fall.totalRate).to.be.closeTo(140 / 60, 1e-9);
  });

  it("counts silent intervals as zero and does not dilute a young window", () => {
    const w = new WorkloadWindow(240, 10);
    w.add({ time: T0 + 10, counts: { "7-4": 50 } });
    // 10 s of evidence so far: 5 req/s, not 50 / 240.
    expect(w.rates(T0 + 10).meanRate).to.be.closeTo(5, 1e-9);
    // No flush for 30 s (the router writes nothing when idle): 50 requests over 40 s.
    const later = w.rates(T0 + 40);
    expect(later.meanRate).to.be.closeTo(50 / 40, 1e-9);
    expect(later.currentRate).to.equal(0);
    // Past the window, the old point is gone.
    const gone = w.rates(T0 + 10 + 240);
    expect(gone.totalRate).to.equal(0);
    expect(gone.buckets).to.deep.equal([]);
  });

  it("accepts points out of order and ignores points from the future", () => {
    const w = new WorkloadWindow(60, 10);
    w.add({ time: T0 + 20, counts: { "7-4": 20 } });
    w.add({ time: T0 + 10, counts: { "7-4": 10 } });
    w.add({ time: T0 + 30, counts: { "7-4": 999 } });
    const r = w.rates(T0 + 20);
    expect(r.currentRate).to.be.closeTo(2, 1e-9);
    expect(r.meanRate).to.be.closeTo(30 / 20, 1e-9);
  });

  it("rejects malformed points naming the key or count, recording nothing", () => {
    const w = new WorkloadWindow(60, 10);
    expect(() => w.add({ time: T0, counts: { "7-4": 1, "x-1": 2 } })).to.throw(RangeError, /"x-1"/);
    expect(() => w.add({ time: T0, counts: { "7-4": -1 } })).to.throw(RangeError, /counts\["7-4"\]/);
    expect(() => w.add({ time: Number.NaN, counts: {} })).to.throw(RangeError, /time/);
    expect(w.rates(T0).totalRate).to.equal(0);
    expect(() => new WorkloadWindow(5, 10)).to.throw(RangeError, /windowSeconds/);
  });
});
