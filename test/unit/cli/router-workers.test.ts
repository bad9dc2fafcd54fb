import { expect } from "chai";
import { perWorkerStateWarning, workersFlag } from "../../../cli/router-workers.js";

describe("router --workers", () => {
  it("takes a whole number from 1, or auto for one per CPU, and names the flag and the rule otherwise", () => {
    expect(workersFlag("1", 8)).to.equal(1);
    expect(workersFlag("3", 8)).to.equal(3);
    expect(workersFlag("auto", 8)).to.equal(8);
    for (const bad of ["0", "-2", "1.5", "two", ""]) {
      expect(() => workersFlag(bad, 8), bad).to.throw(/--workers .* must be a whole number from 1, or "auto"/);
    }
  });

  it("warns that in-memory state is per worker, and about limits only when flow control is on", () => {
    expect(perWorkerStateWarning(1, undefined, true)).to.equal(undefined);
    expect(perWorkerStateWarning(4, "redis://127.0.0.1:6379", true)).to.equal(undefined);
    const plain = perWorkerStateWarning(4, undefined, false)!;
    expect(plain).to.match(
      /--workers 4 without --redis-url: the prefix-cache index and in-flight counts are per worker/,
    );
    expect(plain).to.not.match(/limit/);
    const limited = perWorkerStateWarning(4, undefined, true)!;
    expect(limited).to.match(/every limit is enforced per worker \(up to 4× in total\)/);
    expect(limited).to.match(/Pass --redis-url to share them/);
  });
});
