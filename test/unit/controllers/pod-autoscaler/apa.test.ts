import { expect } from "chai";
import fc from "fast-check";
import { DEFAULT_TUNING } from "../../../../controllers/pod-autoscaler/annotations.js";
import { decideApa, type ApaInput } from "../../../../controllers/pod-autoscaler/apa.js";

const input = (over: Partial<ApaInput>): ApaInput => ({
  perPodValue: 10,
  target: 10,
  currentReplicas: 4,
  bounds: { min: 1, max: 100 },
  tuning: DEFAULT_TUNING,
  ...over,
});

describe("pod-autoscaler APA", () => {
  it("holds inside the tolerance band", () => {
    expect(decideApa(input({ perPodValue: 10.9 })).desired).to.equal(4);
    expect(decideApa(input({ perPodValue: 9.1 })).desired).to.equal(4);
  });

  it("scales by the ratio outside the band, limited by the up rate", () => {
    expect(decideApa(input({ perPodValue: 15 })).desired).to.equal(6);
    expect(decideApa(input({ perPodValue: 100 })).desired).to.equal(8); // ceil(2 · 4)
  });

  it("scales down by the ratio, limited by the down rate", () => {
    expect(decideApa(input({ perPodValue: 7 })).desired).to.equal(3);
    expect(decideApa(input({ perPodValue: 0 })).desired).to.equal(2); // floor(4 / 2)
  });

  it("honours custom fluctuation tolerances", () => {
    const tuning = { ...DEFAULT_TUNING, scaleUpTolerance: 0.5, scaleDownTolerance: 0.3 };
    expect(decideApa(input({ perPodValue: 14, tuning })).desired).to.equal(4);
    expect(decideApa(input({ perPodValue: 7.5, tuning })).desired).to.equal(4);
    expect(decideApa(input({ perPodValue: 16, tuning })).desired).to.equal(7);
  });

  it("holds replicas when there is no sample", () => {
    expect(decideApa(input({ perPodValue: undefined, currentReplicas: 9 })).desired).to.equal(9);
  });

  it("property: within bounds, never against the signal, deterministic", () => {
    fc.assert(
      fc.property(
        fc.option(fc.double({ min: 0, max: 1000, noNaN: true }), { nil: undefined }),
        fc.double({ min: 0.1, max: 100, noNaN: true }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 10, max: 50 }),
        fc.boolean(),
        (u, target, current, min, max, scaleToZero) => {
          const args = input({ perPodValue: u, target, currentReplicas: current, bounds: { min, max } });
          args.tuning = { ...DEFAULT_TUNING, scaleToZero };
          const d = decideApa(args);
          expect(d).to.deep.equal(decideApa(args));
          expect(d.desired).to.be.at.most(max);
          expect(d.desired).to.be.at.least(scaleToZero ? min : Math.max(1, min));
          if (u !== undefined && current > 0 && current >= min && current <= max) {
            if (u > target) expect(d.desired).to.be.at.least(current);
            if (u < target) expect(d.desired).to.be.at.most(current);
          }
        },
      ),
    );
  });
});
