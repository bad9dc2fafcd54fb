import { expect } from "chai";
import { median, spread } from "../../../bench/lib/stats.js";

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
});
