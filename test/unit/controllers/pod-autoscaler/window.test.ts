import { expect } from "chai";
import fc from "fast-check";
import {
  recordSample,
  stabilise,
  tickValue,
  windowAverage,
  type PodSample,
  type Recommendation,
} from "../../../../controllers/pod-autoscaler/window.js";

const pod = (name: string, value: number | undefined, over: Partial<PodSample> = {}): PodSample => ({
  pod: name,
  ready: true,
  terminating: false,
  warmingUp: false,
  value,
  ...over,
});

describe("pod-autoscaler metric window", () => {
  it("records a failed scrape as missing, never as 0", () => {
    let w = recordSample([], 0, 10, 60_000);
    w = recordSample(w, 10_000, undefined, 60_000);
    w = recordSample(w, 20_000, Number.NaN, 60_000);
    expect(w).to.deep.equal([{ atMs: 0, value: 10 }]);
    expect(windowAverage(w, 20_000, 60_000)).to.equal(10);
  });

  it("has no value for a window without samples (not 0)", () => {
    const w = recordSample([], 0, 10, 60_000);
    expect(windowAverage(w, 120_000, 60_000)).to.equal(undefined);
    expect(windowAverage([], 0, 60_000)).to.equal(undefined);
  });

  it("is a missing tick when no counted pod answered", () => {
    expect(tickValue([pod("a", undefined), pod("b", undefined)])).to.equal(undefined);
  });

  it("assumes a pod whose scrape failed carries the mean of the others, not 0", () => {
    const t = tickValue([pod("a", 30), pod("b", 10), pod("c", undefined)]);
    expect(t).to.deep.equal({ total: 60, average: 20, counted: 3, missing: 1 });
  });

  it("excludes not-ready, terminating and warming-up pods", () => {
    const t = tickValue([
      pod("a", 40),
      pod("b", 0, { ready: false }),
      pod("c", 0, { terminating: true }),
      pod("d", 0, { warmingUp: true }),
    ]);
    expect(t).to.deep.equal({ total: 40, average: 40, counted: 1, missing: 0 });
  });

  it("forgets samples older than the retained span", () => {
    let w = recordSample([], 0, 1, 30_000);
    w = recordSample(w, 40_000, 2, 30_000);
    expect(w).to.deep.equal([{ atMs: 40_000, value: 2 }]);
  });
});

describe("pod-autoscaler stabilisation", () => {
  const windows = { upMs: 0, downMs: 300_000 };

  it("takes the MAXIMUM recommendation over the scale-down window (upstream took the minimum)", () => {
    let history: readonly Recommendation[] = [];
    let replicas = 10;
    const recs = [10, 2, 2, 2];
    recs.forEach((r, i) => {
      const s = stabilise(history, i * 10_000, r, replicas, windows);
      history = s.history;
      replicas = s.replicas;
    });
    expect(replicas).to.equal(10);
  });

  it("lets replicas fall once the whole down window recommends fewer", () => {
    let history: readonly Recommendation[] = [];
    let replicas = 10;
    for (let i = 0; i <= 31; i++) {
      const s = stabilise(history, i * 10_000, i === 0 ? 10 : 2, replicas, windows);
      history = s.history;
      replicas = s.replicas;
    }
    expect(replicas).to.equal(2);
  });

  it("scales up at once with a 0 s up window", () => {
    const s = stabilise([{ atMs: 0, replicas: 1 }], 10_000, 8, 1, windows);
    expect(s.replicas).to.equal(8);
  });

  it("property: never goes below the window's highest recommendation when scaling down", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 40 }), (recs) => {
        let history: readonly Recommendation[] = [];
        let replicas = recs[0]!;
        recs.forEach((r, i) => {
          const nowMs = i * 10_000;
          const before = replicas;
          const s = stabilise(history, nowMs, r, replicas, windows);
          history = s.history;
          replicas = s.replicas;
          const recent = recs.slice(0, i + 1).filter((_, j) => j * 10_000 > nowMs - windows.downMs || j === i);
          if (replicas < before) expect(replicas).to.equal(Math.max(...recent));
        });
      }),
    );
  });
});
