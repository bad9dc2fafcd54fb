import { expect } from "chai";
import { runRounds } from "../../../bench/lib/rounds.js";

describe("bench rounds", () => {
  it("runs the rounds one after another, numbered from 1, each announced and with the load around it", async () => {
    const said: string[] = [];
    let inFlight = 0;
    let overlapped = false;
    const rounds = await runRounds({ quick: false, progress: (m) => said.push(m) }, 3, async (r) => {
      overlapped ||= ++inFlight > 1;
      await new Promise((done) => setTimeout(done, 5));
      inFlight--;
      return { doubled: r * 2 };
    });
    expect(overlapped).to.equal(false);
    expect(rounds.map((r) => [r.round, r.figures.doubled])).to.deep.equal([
      [1, 2],
      [2, 4],
      [3, 6],
    ]);
    expect(said).to.deep.equal(["round 1 of 3", "round 2 of 3", "round 3 of 3"]);
    for (const r of rounds) expect(r.load1m.every((l) => Number.isFinite(l) && l >= 0)).to.equal(true);
  });
});
