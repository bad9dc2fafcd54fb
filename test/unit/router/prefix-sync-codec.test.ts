import { expect } from "chai";
import { decodePrefixMessage, encodePrefixMessage } from "../../../router/picking/prefix-sync.js";

describe("prefix-sync message codec", () => {
  it("round-trips 64-bit and negative bigint hashes exactly", () => {
    const hashes = [0n, 1n, 2n ** 64n - 1n, -(2n ** 63n), 0xdeadbeefcafebaben, 12345678901234567890n];
    const text = encodePrefixMessage("r1", [
      { model: "llama", id: "10.0.0.1:8000", hashes },
      { model: "m/with-slash", id: "10.0.0.2:8000", hashes: [7n] },
    ]);
    const back = decodePrefixMessage(text);
    expect(back.replica).to.equal("r1");
    expect(back.inserts).to.deep.equal([
      { model: "llama", id: "10.0.0.1:8000", hashes },
      { model: "m/with-slash", id: "10.0.0.2:8000", hashes: [7n] },
    ]);
  });

  it("rejects messages that are not ours, naming the field", () => {
    expect(() => decodePrefixMessage(JSON.stringify({ e: [] }))).to.throw(/field "r"/);
    expect(() => decodePrefixMessage(JSON.stringify({ r: "x", e: 3 }))).to.throw(/field "e"/);
    expect(() => decodePrefixMessage(JSON.stringify({ r: "x", e: [["m", 1, []]] }))).to.throw(/field "e\[0\]"/);
    expect(() => decodePrefixMessage(JSON.stringify({ r: "x", e: [["m", "a:1", ["zz"]]] }))).to.throw();
    expect(() => decodePrefixMessage("not json")).to.throw();
  });
});
