import { expect } from "chai";
import type { Assessment } from "../../../diagnostics/checks.js";
import { decideMarks, NO_MARKS, sameMarks, type Marks } from "../../../diagnostics/marks.js";

const STABLE = 60_000;
const healthy: Assessment = { nodeFault: null, failing: new Map(), overall: "healthy" };
const dbe: Assessment = {
  nodeFault: { check: "gpu_vram_unrecoverable_errors", message: "GPU 3: 1 uncorrectable ECC errors" },
  failing: new Map([[3, "gpu_vram_unrecoverable_errors: 1 uncorrectable ECC errors"]]),
  overall: "unhealthy",
};
const linkDown: Assessment = {
  nodeFault: null,
  failing: new Map([[5, "gpu_link_status: PCIe link width x8 of x16"]]),
  overall: "unhealthy",
};

/** Feeds (time, assessment) pairs through decideMarks and returns the marks after each. */
function replay(steps: [number, Assessment][]): Marks[] {
  let marks = NO_MARKS;
  return steps.map(([t, a]) => (marks = decideMarks(marks, a, t, STABLE)));
}

describe("diagnostics: marks (fault at once, recovery after a stable period)", () => {
  it("a fatal fault marks the node and its GPU on the first probe", () => {
    const [m] = replay([[0, dbe]]);
    expect(m!.node).to.deep.equal({
      check: "gpu_vram_unrecoverable_errors",
      reason: dbe.nodeFault!.message,
      cleanSinceMs: null,
    });
    expect([...m!.devices.keys()]).to.deep.equal([3]);
  });

  it("clears only after the whole stable period healthy", () => {
    const ms = replay([
      [0, dbe],
      [10_000, healthy],
      [69_999, healthy],
      [70_000, healthy],
    ]);
    expect(ms[1]!.node?.cleanSinceMs).to.equal(10_000);
    expect(ms[2]!.node).to.not.equal(null);
    expect(ms[2]!.devices.get(3)?.cleanSinceMs).to.equal(10_000);
    expect(ms[3]!.node).to.equal(null);
    expect(ms[3]!.devices.size).to.equal(0);
  });

  it("a flapping fault keeps its mark: each bad probe restarts the stable period", () => {
    const steps: [number, Assessment][] = [];
    for (let t = 0; t < 600_000; t += 10_000) steps.push([t, (t / 10_000) % 5 === 0 ? dbe : healthy]);
    const ms = replay(steps);
    expect(ms.every((m) => m.node !== null)).to.equal(true);
    const changes = ms.slice(1).filter((m, i) => !sameMarks(m, ms[i]!)).length;
    expect(changes).to.equal(0);
  });

  it("GPU marks are independent: a new fault on one GPU does not hold back another's recovery", () => {
    const ms = replay([
      [0, linkDown],
      [1_000, healthy],
      [50_000, { ...healthy, failing: new Map([[1, "gpu_nvlink_status: NVLink 2 inactive"]]) }],
      [61_000, healthy],
    ]);
    expect([...ms[2]!.devices.keys()].sort()).to.deep.equal([1, 5]);
    expect([...ms[3]!.devices.keys()]).to.deep.equal([1]);
  });

  it("a node-level fault that turns into a GPU-level one keeps the node marked until stable", () => {
    const ms = replay([
      [0, dbe],
      [5_000, linkDown],
      [64_999, linkDown],
      [65_000, linkDown],
    ]);
    expect(ms[2]!.node).to.not.equal(null);
    expect(ms[3]!.node).to.equal(null);
    expect([...ms[3]!.devices.keys()]).to.deep.equal([5]);
  });

  it("a stable period of 0 clears on the first healthy probe", () => {
    let m = decideMarks(NO_MARKS, dbe, 0, 0);
    m = decideMarks(m, healthy, 1, 0);
    expect(sameMarks(m, NO_MARKS)).to.equal(true);
  });
});
