// How the fairness benchmark counts service from what its streaming clients saw.
import { expect } from "chai";
import {
  jainIndex,
  onSpans,
  serviceByUser,
  serviceDifference,
  serviceEvents,
  type Served,
  vtcUnit,
} from "../../../bench/fairness/scenarios.js";

const served = (user: string, promptTokens: number, chunkTimes: number[], completionTokens: number): Served => ({
  user,
  sentAt: 0,
  status: 200,
  latencyMs: 0,
  promptTokens,
  chunkTimes,
  completionTokens,
});

describe("fairness benchmark: service accounting", () => {
  it("counts the prompt at the first chunk and completion tokens (× 2) over the chunks that bore them", () => {
    const events = serviceEvents([served("a", 10, [100, 200], 4), { ...served("b", 5, [50], 1), status: 429 }]);
    expect(events.map((e) => [e.at, e.amount])).to.deep.equal([
      [100, 10],
      [100, 4],
      [200, 4],
    ]);
    // U = max(1 × longest prompt, 2 × slots × largest request): max(10, 2 × 8 × 23).
    expect(vtcUnit([served("a", 10, [1], 4), served("b", 3, [1], 20)], 8)).to.equal(368);
    expect(vtcUnit([served("a", 1000, [1], 1)], 0)).to.equal(1000);
  });

  it("finds the largest difference over any interval, not just from the start", () => {
    // a leads by 30, then b catches up and leads by 20: over [t=2, t=5) b gained 50 more than a.
    const events = serviceEvents([
      served("a", 30, [1], 0),
      served("b", 0, [2, 3, 4, 5], 25), // 12.5 per chunk
    ]);
    expect(serviceDifference(events, "a", "b", 0, 10)).to.equal(50);
    expect(serviceDifference(events, "a", "b", 2, 10)).to.equal(50);
    expect(serviceDifference(events, "a", "b", 0, 2)).to.equal(30);
    expect(serviceByUser(events, 0, 3).get("b")).to.equal(12.5);
  });

  it("rates equality with Jain's index and splits an on/off client's run into its on spans", () => {
    expect(jainIndex([5, 5, 5, 5])).to.equal(1);
    expect(jainIndex([8, 0, 0, 0])).to.equal(0.25);
    expect(onSpans({ periodMs: 10_000, onMs: 5_000 }, 25_000)).to.deep.equal([
      [0, 5000],
      [10_000, 15_000],
      [20_000, 25_000],
    ]);
  });
});
