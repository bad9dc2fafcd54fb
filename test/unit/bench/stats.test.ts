import { expect } from "chai";
import { median, medianOfRounds, spread } from "../../../bench/lib/stats.js";

describe("bench statistics", () => {
  it("median is the middle value, or the mean of the middle two of an even count", () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(median([10, 20])).to.equal(15);
    expect(median([])).to.be.NaN;
  });

  it("spread is the distance between the extreme rounds", () => {
    expect(spread([0.5, 0.2, 0.9])).to.be.closeTo(0.7, 1e-12);
    expect(spread([1])).to.equal(0);
    expect(spread([])).to.be.NaN;
  });

  it("medianOfRounds takes each figure's true median, the named figures' spread, and shows a missing figure", () => {
    const out = medianOfRounds([{ a: 1, b: 10 }, { a: 4, b: 30 }, { a: 2 }], ["a"]);
    expect(out.a).to.equal(2);
    expect(out.a_spread).to.equal(3);
    expect(out.b).to.be.NaN; // [10, 30, NaN]: a round that lacks it is not quietly dropped
    expect(out).to.not.have.property("b_spread");
  });
});
