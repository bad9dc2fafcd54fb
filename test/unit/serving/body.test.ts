import { expect } from "chai";
import fc from "fast-check";
import { jsonDepthExceeds, parseJsonObject } from "../../../serving/body.js";
import { HttpError } from "../../../serving/errors.js";

/** Nesting depth of a parsed value, the reference the byte scan must agree with. */
function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === "object") return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

describe("serving: request bodies", () => {
  it("measures JSON nesting as JSON.parse sees it, brackets and escapes inside strings included", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 8 }), (v, limit) => {
        const text = Buffer.from(JSON.stringify(v));
        expect(jsonDepthExceeds(text, limit)).to.equal(depthOf(v) > limit);
      }),
      { numRuns: 500 },
    );
    expect(jsonDepthExceeds(Buffer.from('{"a":"[[[\\"[[[\\\\"}'), 1)).to.equal(false);
  });

  it("refuses deep nesting, bad JSON and non-objects with a 400 naming the rule", () => {
    const refuse = (text: string) => {
      try {
        parseJsonObject(Buffer.from(text));
      } catch (err) {
        expect(err).to.be.instanceOf(HttpError);
        return (err as HttpError).message;
      }
      throw new Error("accepted");
    };
    expect(refuse("[".repeat(100_000))).to.match(/nests deeper than 64 levels/);
    expect(refuse("{nope")).to.match(/not valid JSON/);
    expect(refuse("[1]")).to.match(/must be a JSON object/);
    expect(parseJsonObject(Buffer.from('{"a":[[1]]}'))).to.deep.equal({ a: [[1]] });
  });
});
