import { expect } from "chai";
import {
  directionChanges,
  gpuSeconds,
  headlineFigures,
  minutesMet,
  p90,
  secondsToReady,
  sloAttainment,
  type ClusterSample,
} from "../../../bench/autoscaler-reaction/measure.js";
import { replayRound } from "../../../bench/autoscaler-reaction/replay.js";
import { hpaBaseline, hpaRecommendation } from "../../../bench/autoscaler-reaction/strategies.js";
import {
  arrivals,
  AUTOSCALERS_AT_S,
  BOUNDS,
  PRELUDE_S,
  PRODUCT_DEFAULTS,
  STEP,
  TRACE_S,
} from "../../../bench/autoscaler-reaction/trace.js";

const sample = (second: number, replicas: number, pods = replicas, ready = pods): ClusterSample => ({
  second,
  replicas,
  pods,
  ready,
});

describe("autoscaler-reaction figures", () => {
  it("judges an arm on the trace alone: prelude samples count for neither GPU time nor direction changes", () => {
    const samples = [sample(-20, 5), sample(-10, 1), sample(0, 2), sample(60, 4), sample(120, 3)];
    const records = [
      { at: 10, ttftS: 0.5 },
      { at: 70, ttftS: 9 },
    ];
    expect(headlineFigures(samples, records, 180, 2)).to.deep.equal({
      oscillations: 1,
      sloAttainment: 0.5,
      gpuSeconds: 2 * 60 + 4 * 60 + 3 * 60,
    });
  });

  it("counts reversals of direction, not steps in one direction or plateaus", () => {
    expect(directionChanges([2, 3, 4, 4, 6, 6])).to.equal(0);
    expect(directionChanges([2, 4, 4, 3, 3, 5])).to.equal(2);
    expect(directionChanges([5, 4, 3, 2])).to.equal(0);
    expect(directionChanges([])).to.equal(0);
  });

  it("judges each minute by its TTFT p90, a failed request counting as a miss", () => {
    const minute0 = Array.from({ length: 10 }, (_, i) => ({ at: i, ttftS: 0.5 }));
    const minute1 = [
      ...Array.from({ length: 8 }, (_, i) => ({ at: 60 + i, ttftS: 0.5 })),
      { at: 70, ttftS: Infinity },
      { at: 71, ttftS: Infinity },
    ];
    expect(minutesMet([...minute0, ...minute1], 1)).to.deep.equal([
      { minute: 0, met: true },
      { minute: 1, met: false },
    ]);
    expect(sloAttainment([...minute0, ...minute1], 1)).to.equal(0.5);
    // One slow request in ten is inside a p90.
    expect(p90([...Array(9).fill(0.1), 9])).to.equal(0.1);
  });

  it("adds GPU-seconds from each sample's pods until the next sample, up to the end", () => {
    const samples = [sample(0, 2), sample(10, 4, 4, 2), sample(20, 3)];
    expect(gpuSeconds(samples, 25)).to.equal(2 * 10 + 4 * 10 + 3 * 5);
    expect(gpuSeconds([...samples, sample(30, 9)], 25)).to.equal(75);
  });

  it("times the step to the first sample with enough Ready pods, or says it never came", () => {
    const samples = [sample(290, 2), sample(300, 4, 4, 2), sample(380, 4, 4, 3), sample(390, 4, 4, 4)];
    expect(secondsToReady(samples, 300, 600, 3)).to.equal(80);
    expect(secondsToReady(samples, 300, 600, 5)).to.equal(undefined);
  });
});

describe("autoscaler-reaction trace and HPA-style baseline", () => {
  it("one seed gives one trace, whose step carries about 4× the steady arrivals", () => {
    const a = arrivals(7);
    expect(arrivals(7)).to.deep.equal(a);
    expect(a.every((t, i) => i === 0 || t >= a[i - 1]!)).to.equal(true);
    expect(a[a.length - 1]).to.be.below(TRACE_S);
    expect(a[0]).to.be.below(0); // the unmeasured prelude
    const steadyRate = a.filter((t) => t < STEP.startS).length / (STEP.startS + PRELUDE_S);
    const stepRate = a.filter((t) => t >= STEP.startS && t < STEP.endS).length / (STEP.endS - STEP.startS);
    expect(stepRate / steadyRate).to.be.within(3.3, 4.7);
  });

  it("starts the autoscalers early enough that every window they keep holds only steady prelude load at second 0", () => {
    const longestMemoryS = PRODUCT_DEFAULTS.observeWindowS + PRODUCT_DEFAULTS.scaleDownCooldownS;
    expect(-AUTOSCALERS_AT_S).to.be.at.least(longestMemoryS);
    expect(PRELUDE_S).to.be.above(-AUTOSCALERS_AT_S); // the engines report load before the first tick
  });

  const obs = (replicas: number, values: number[], pods = values.length) => ({ replicas, pods, values });
  /** One sync on running sequences (target 1) and an empty queue (target 1). */
  const sync = (nowMs: number, replicas: number, running: number[]) => ({
    nowMs,
    replicas,
    pods: running.length,
    metrics: [
      { values: running, target: 1 },
      { values: running.map(() => 0), target: 1 },
    ],
  });

  it("scales by the ratio outside the 10 % band and holds a dip for the whole 300 s down window", () => {
    const decide = hpaBaseline({ bounds: { min: 1, max: 10 } });
    expect(decide(sync(0, 2, [1.05, 1]))).to.equal(2);
    expect(decide(sync(15_000, 2, [2, 2]))).to.equal(4);
    // max(2×, +4) per sync
    expect(decide(sync(30_000, 4, [5, 5, 5, 5]))).to.equal(8);
    expect(decide(sync(45_000, 8, Array(8).fill(0.25)))).to.equal(8);
    expect(decide(sync(300_000, 8, Array(8).fill(0.25)))).to.equal(8);
    expect(decide(sync(346_000, 8, Array(8).fill(0.25)))).to.equal(2);
  });

  it("with several metrics, follows the largest ask", () => {
    const decide = hpaBaseline({ bounds: { min: 1, max: 10 } });
    const queued = { ...sync(0, 2, [1, 1]), metrics: [sync(0, 2, [1, 1]).metrics[0]!, { values: [3, 3], target: 1 }] };
    expect(decide(queued)).to.equal(6);
  });

  it("counts pods still starting as idle when scaling up, as on target when scaling down", () => {
    // One Ready pod saturated at 2, three starting: (2 + 0) / 4 pods is under target, so no further scale-up.
    expect(hpaRecommendation(obs(4, [2], 4), 1)).to.equal(4);
    // Two Ready at 3 and two starting: (6 + 0) / 4 = 1.5 → 6.
    expect(hpaRecommendation(obs(4, [3, 3], 4), 1)).to.equal(6);
    // Two Ready at 0.2 and two starting counted on target: (0.4 + 2) / 4 = 0.6 → 3.
    expect(hpaRecommendation(obs(4, [0.2, 0.2], 4), 1)).to.equal(3);
    // Nobody answered: hold.
    expect(hpaRecommendation(obs(4, [], 4), 1)).to.equal(4);
  });
});

describe("autoscaler-reaction queueing replay", () => {
  it("replays one seed to the same figures, within the bounds, with the product's tick deciding", () => {
    const a = replayRound("kpa", 7);
    expect(replayRound("kpa", 7)).to.deep.equal(a);
    expect(a.samples.every((s) => s.replicas >= BOUNDS.min && s.replicas <= BOUNDS.max)).to.equal(true);
    // The 4× step outgrows the two pods the steady load asks for: the autoscaler must have scaled up.
    expect(Math.max(...a.samples.filter((s) => s.second > STEP.startS).map((s) => s.replicas))).to.be.above(2);
    expect(a.gpuSeconds).to.be.within(BOUNDS.min * TRACE_S, BOUNDS.max * TRACE_S);
    expect(a.sloAttainment).to.be.within(0, 1);
  });

  it("queues past the slots: two pods held through the 4× step miss its minutes, ten pods miss none", () => {
    const two = replayRound({ fixed: 2 }, 7);
    const stepMinutes = (m: number) => m >= STEP.startS / 60 && m < STEP.endS / 60;
    expect(two.missedMinutes.filter(stepMinutes).length).to.be.at.least(3);
    expect(two.missedMinutes.filter((m) => m < STEP.startS / 60)).to.deep.equal([]); // the steady load fits in two
    const ten = replayRound({ fixed: 10 }, 7);
    expect(ten.missedMinutes).to.deep.equal([]);
    expect(ten.gpuSeconds).to.equal(10 * TRACE_S);
    expect(ten.oscillations).to.equal(0);
  });
});
