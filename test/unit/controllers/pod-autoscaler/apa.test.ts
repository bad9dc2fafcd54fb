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

  it("sizes a scale-up from the Ready pods the value was measured on, never cutting pods still starting", () => {
    // 1 of 4 Ready and at twice the target: the load needs 2 pods, and 4 are already coming.
    expect(decideApa(input({ perPodValue: 20, currentReplicas: 4, readyPods: 1 })).desired).to.equal(4);
    // 2 of 4 Ready at 3× the target: the load needs 6.
    expect(decideApa(input({ perPodValue: 30, currentReplicas: 4, readyPods: 2 })).desired).to.equal(6);
    // Every pod Ready: as before.
    expect(decideApa(input({ perPodValue: 15, currentReplicas: 4, readyPods: 4 })).desired).to.equal(6);
  });

  it("does not multiply the fleet tick after tick while new pods start", () => {
    let replicas = 2;
    // One Ready pod stays saturated at 2× the target while the others load weights.
    for (let tick = 0; tick < 9; tick++) {
      replicas = decideApa(input({ perPodValue: 20, currentReplicas: replicas, readyPods: 1 })).desired;
    }
    expect(replicas).to.equal(2);
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
