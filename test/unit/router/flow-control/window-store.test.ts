import { expect } from "chai";
import fc from "fast-check";
import {
  MemoryWindowStore,
  oldestLiveBucket,
  type WindowSpec,
} from "../../../../router/flow-control/limits/window-store.js";

const minute: WindowSpec = { windowMs: 60_000, slices: 60 };

describe("memory sliding window", () => {
  it("admits exactly `limit` requests inside one window, then refuses with a retry time", async () => {
    const s = new MemoryWindowStore();
    let allowed = 0;
    for (let i = 0; i < 150; i++) if ((await s.hit("u", minute, 100, 1, 1_000_000 + i * 10)).allowed) allowed++;
    expect(allowed).to.equal(100);
    const r = await s.hit("u", minute, 100, 1, 1_002_000);
    expect(r.allowed).to.equal(false);
    expect(r.used).to.equal(100);
    // The first bucket (1 000 000 ms) leaves the window one slice plus a window later.
    expect(r.retryAfterMs).to.be.within(1, 60_000);
  });

  it("frees capacity as old buckets leave the window (sliding, not fixed)", async () => {
    const s = new MemoryWindowStore();
    for (let i = 0; i < 10; i++) await s.hit("u", minute, 10, 1, 0 + i * 1000); // one per second for 10 s
    expect((await s.hit("u", minute, 10, 1, 30_000)).allowed).to.equal(false);
    // At 61 s the bucket of t=0 is gone: exactly one more fits.
    expect((await s.hit("u", minute, 10, 1, 61_000)).allowed).to.equal(true);
    expect((await s.hit("u", minute, 10, 1, 61_001)).allowed).to.equal(false);
  });

  it("cost-weighted hits must fit entirely; mustFit=false admits while the window is not full", async () => {
    const s = new MemoryWindowStore();
    expect((await s.hit("t", minute, 1000, 800, 0)).allowed).to.equal(true);
    expect((await s.hit("t", minute, 1000, 300, 1)).allowed).to.equal(false);
    expect((await s.hit("t", minute, 1000, 300, 2, false)).allowed).to.equal(true);
    expect(await s.usage("t", minute, 3)).to.equal(1100);
  });

  it("refunds go into the bucket they were taken from, and are dropped once it has expired", async () => {
    const s = new MemoryWindowStore();
    const r = await s.hit("t", minute, 1000, 500, 0);
    await s.add("t", minute, -200, 30_000, r.bucket);
    expect(await s.usage("t", minute, 30_000)).to.equal(300);
    await s.add("t", minute, -300, 120_000, r.bucket);
    expect(await s.usage("t", minute, 120_000)).to.equal(0);
  });

  it("never lets more than `limit` through in any window (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 300 }), (gaps) => {
        const s = new MemoryWindowStore();
        const spec: WindowSpec = { windowMs: 10_000, slices: 10 };
        const admitted: number[] = [];
        let t = 0;
        for (const g of gaps) {
          t += g;
          if (s.hitSync("k", spec, 7, 1, t).allowed) admitted.push(t);
        }
        for (let i = 0; i < admitted.length; i++) {
          const inWindow = admitted.filter((a) => a > admitted[i]! - spec.windowMs && a <= admitted[i]!).length;
          if (inWindow > 7) return false;
        }
        return true;
      }),
    );
  });

  it("oldestLiveBucket keeps a bucket while any of it overlaps the window", () => {
    expect(oldestLiveBucket(minute, 60_000)).to.equal(0); // bucket 0 = [0, 1000) overlaps (0, 60000]
    expect(oldestLiveBucket(minute, 61_000)).to.equal(1);
  });
});
