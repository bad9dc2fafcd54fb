import { expect } from "chai";
import { generateKey, parseKey, verifySecret } from "../../../../router/flow-control/users/keys.js";
import { applyUserInput, validateUserInput } from "../../../../router/flow-control/users/user.js";
import { parsePriority, priorityClass } from "../../../../router/flow-control/fairness/priority.js";
import { isSaturated } from "../../../../router/flow-control/fairness/saturation.js";

describe("API keys", () => {
  it("round-trips: a generated key parses and verifies; the stored form holds no secret", () => {
    const { key, stored } = generateKey();
    const parsed = parseKey(key)!;
    expect(parsed.id).to.equal(stored.id);
    expect(verifySecret(stored, parsed.secret)).to.equal(true);
    expect(JSON.stringify(stored)).to.not.include(parsed.secret);
  });

  it("rejects a wrong secret and malformed keys", () => {
    const { stored } = generateKey();
    expect(verifySecret(stored, "A".repeat(43))).to.equal(false);
    expect(parseKey("sk-aibrix-short")).to.equal(undefined);
    expect(parseKey("Bearer sk-aibrix-0123456789ab_" + "A".repeat(43))).to.equal(undefined);
  });

  it("two keys with the same secret would hash differently (per-key salt)", () => {
    const a = generateKey().stored;
    const b = generateKey().stored;
    expect(a.salt).to.not.equal(b.salt);
  });
});

describe("user validation", () => {
  it("names the field and the rule for negative or fractional limits", () => {
    const p = validateUserInput({ name: "alice", rpm: -1, tpm: 2.5 }, false);
    expect(p.map((x) => x.field)).to.deep.equal(["rpm", "tpm"]);
    expect(p[0]!.rule).to.equal("integer >= 0");
    expect(p[0]!.message).to.include("rpm must be an integer >= 0");
  });

  it("requires a well-formed name on create, not on update", () => {
    expect(validateUserInput({ rpm: 1 }, false)[0]!.field).to.equal("name");
    expect(validateUserInput({ rpm: 1 }, true)).to.deep.equal([]);
    expect(validateUserInput({ name: "bad name!" }, false)[0]!.rule).to.equal("pattern");
  });

  it("rejects unknown fields, bad priorities and bad model lists", () => {
    const p = validateUserInput({ name: "a", colour: "red", priority: "urgent", models: [""] }, false);
    expect(p.map((x) => x.field)).to.deep.equal(["colour", "priority", "models"]);
  });

  it("applies AIBrix zero defaults only on the compatible routes", () => {
    expect(applyUserInput(undefined, { name: "a", rpm: 0 }, true)).to.include({ rpm: 100, tpm: 100_000 });
    expect(applyUserInput(undefined, { name: "a", rpm: 0 }, false)).to.include({ rpm: 0, tpm: null });
  });
});

describe("priorities and saturation", () => {
  it("maps classes to integers and back", () => {
    expect(parsePriority("critical")).to.equal(1);
    expect(parsePriority("sheddable")).to.equal(-1);
    expect(parsePriority("-7")).to.equal(-7);
    expect(parsePriority(1.5)).to.have.property("error");
    expect(priorityClass(-3)).to.equal("sheddable");
    expect(priorityClass(0)).to.equal("standard");
  });

  it("a model is saturated when no fresh endpoint has waiting <= 5 and KV <= 0.8", () => {
    const t = { queueDepth: 5, kvCacheUsage: 0.8 };
    const ep = (waiting: number, kv: number, stale = false) => ({
      waiting,
      kvUsage: kv,
      inFlight: 0,
      stale,
      ejected: false,
    });
    expect(isSaturated([ep(6, 0.1), ep(0, 0.9)], t)).to.equal(true);
    expect(isSaturated([ep(6, 0.1), ep(5, 0.8)], t)).to.equal(false);
    expect(isSaturated([ep(0, 0, true), ep(9, 0.1)], t)).to.equal(true); // stale ones are not usable
    expect(isSaturated([ep(9, 0.9, true)], t)).to.equal(false); // no fresh metrics: no signal, never held
    expect(isSaturated([], t)).to.equal(false);
  });
});
