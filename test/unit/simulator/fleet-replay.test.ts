import { expect } from "chai";
import { replayFleet, type ReplayRequest } from "../../../simulator/fleet-replay.js";
import { runTrace, uniquePrompt } from "../../../simulator/offline.js";
import { engineConfigFor, getCalibration } from "../../../simulator/calibrations.js";

const A10G = engineConfigFor(getCalibration("a10g-8b"));
const H100 = engineConfigFor(getCalibration("h100-8b"));

function poisson(rate: number, n: number, input: number, output: number, seed = 7): ReplayRequest[] {
  let s = seed;
  const random = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const out: ReplayRequest[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    out.push({ at, inputTokens: input, outputTokens: output });
    at += -Math.log(1 - random()) / rate;
  }
  return out;
}

describe("fleet replay in virtual time", () => {
  it("one engine gives the same latencies as the single-engine replay", () => {
    const trace = poisson(4, 60, 512, 64);
    const fleet = replayFleet([{ type: "A10G", config: A10G }], trace);
    const single = runTrace(
      A10G,
      trace.map((r, i) => ({ at: r.at, promptTokens: uniquePrompt(i, r.inputTokens), maxTokens: r.outputTokens })),
    ).results;
    fleet.forEach((r, i) => {
      expect(r.e2e).to.be.closeTo(single[i]!.e2e, 1e-9);
      expect(r.ttft).to.be.closeTo(single[i]!.ttft, 1e-9);
    });
  });

  it("spreads by least requests in flight, and a chooser pins a request shape to a GPU type", () => {
    const trace = poisson(20, 200, 256, 128);
    const two = replayFleet(
      [
        { type: "A10G", config: A10G },
        { type: "A10G", config: A10G },
      ],
      trace,
    );
    const onFirst = two.filter((r) => r.engine === 0).length;
    expect(onFirst).to.be.within(70, 130);
    const one = replayFleet([{ type: "A10G", config: A10G }], trace);
    const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!;
    expect(p90(two.map((r) => r.e2e))).to.be.lessThan(p90(one.map((r) => r.e2e)));
    const pinned = replayFleet(
      [
        { type: "A10G", config: A10G },
        { type: "H100", config: H100 },
      ],
      trace,
      (r) => (r.inputTokens > 100 ? "H100" : "A10G"),
    );
    expect(pinned.every((r) => r.type === "H100")).to.equal(true);
    expect(() => replayFleet([{ type: "A10G", config: A10G }], trace, () => "L4")).to.throw(/no engine of GPU type L4/);
  });
});
