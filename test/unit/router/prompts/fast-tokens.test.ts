import { expect } from "chai";
import fc from "fast-check";
import { tokenize } from "../../../../api/tokens.js";
import { fastTokenize } from "../../../../router/prompts/fast-tokens.js";

describe("fast tokenizer", () => {
  it("gives exactly the shared tokenizer's ids on ASCII text", () => {
    const ascii = fc.string({
      unit: fc.constantFrom(..." \t\n\r\u000b\u000cabcdXYZ0189.,!?-_'\"()\u0000\u001f"),
      maxLength: 200,
    });
    fc.assert(
      fc.property(ascii, (s) => {
        expect(fastTokenize(s)).to.deep.equal(tokenize(s));
      }),
      { numRuns: 2000 },
    );
  });

  it("falls back to the shared tokenizer for non-ASCII text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.string({ unit: "grapheme", maxLength: 20 }), (a, b) => {
        expect(fastTokenize(a + b)).to.deep.equal(tokenize(a + b));
      }),
      { numRuns: 500 },
    );
  });

  it("handles long words, leading and trailing whitespace", () => {
    for (const s of ["  extraordinary  ", "a", "", "   ", "\n\nhello,   world!!  ", "x".repeat(17), " 1234567890"]) {
      expect(fastTokenize(s)).to.deep.equal(tokenize(s));
    }
  });
});
