import { expect } from "chai";
import { calibrationName, DEFAULT_CALIBRATION } from "../../../simulator/calibrations.js";

describe("simulator engine calibration option", () => {
  it("takes calibration and defaults to h100-8b, without a warning", () => {
    let warned = 0;
    expect(calibrationName({}, () => warned++)).to.equal(DEFAULT_CALIBRATION);
    expect(calibrationName({ calibration: "a10g-8b" }, () => warned++)).to.equal("a10g-8b");
    expect(warned).to.equal(0);
  });

  it("still accepts the old name profile, with a deprecation warning", () => {
    let warned = 0;
    expect(calibrationName({ profile: "l4-8b" }, () => warned++)).to.equal("l4-8b");
    expect(calibrationName({ profile: "l4-8b", calibration: "l4-8b" }, () => warned++)).to.equal("l4-8b");
    expect(warned).to.equal(2);
    expect(() => calibrationName({ profile: "l4-8b", calibration: "a10g-8b" }, () => warned++)).to.throw(
      /profile: "l4-8b" conflicts with calibration: "a10g-8b"; set only calibration/,
    );
  });
});
