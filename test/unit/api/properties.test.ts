import { expect } from "chai";
import fc from "fast-check";
import { KINDS, apiVersionOf, validate, validateUpdate, withDefaults } from "../../../api/index.js";
import { validManifests } from "./fixtures.js";

const kindEnvelope = fc.constantFrom(...KINDS.map((k) => ({ apiVersion: apiVersionOf(k), kind: k.kind })));

/** Arbitrary JSON, and arbitrary JSON wearing one of our kinds' envelopes (so the rules really run). */
const anyDoc = fc.oneof(
  fc.jsonValue(),
  fc
    .record({ envelope: kindEnvelope, metadata: fc.jsonValue(), spec: fc.jsonValue(), status: fc.jsonValue() })
    .map(({ envelope, metadata, spec, status }) => ({ ...envelope, metadata, spec, status })),
  fc.record({ envelope: kindEnvelope, spec: fc.dictionary(fc.string(), fc.jsonValue()) }).map(({ envelope, spec }) => ({
    ...envelope,
    metadata: { name: "x" },
    spec,
  })),
);

/** Valid fixtures with one field somewhere replaced by arbitrary JSON: realistic, nearly-valid input. */
const mutatedFixture = fc
  .record({
    index: fc.nat(),
    path: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
    value: fc.jsonValue(),
  })
  .map(({ index, path, value }) => {
    const docs = validManifests();
    const doc = structuredClone(docs[index % docs.length]!.doc) as Record<string, unknown>;
    let cur: Record<string, unknown> = doc;
    for (const step of path) {
      const keys = Object.keys(cur);
      if (keys.length === 0) break;
      const key = keys[step % keys.length]!;
      const next = cur[key];
      if (next !== null && typeof next === "object" && step % 3 !== 0) cur = next as Record<string, unknown>;
      else {
        cur[key] = value;
        break;
      }
    }
    return doc;
  });

describe("api properties", function () {
  this.timeout(60_000);
  it("validate never throws and always returns well-formed problems", () => {
    fc.assert(
      fc.property(fc.oneof(anyDoc, mutatedFixture), (doc) => {
        const problems = validate(doc);
        for (const p of problems) {
          expect(p.path).to.be.a("string");
          expect(p.rule).to.be.a("string").and.not.empty;
          expect(p.message).to.be.a("string").and.not.empty;
          expect(p.rule).to.not.equal("internal");
        }
      }),
      { numRuns: 400 },
    );
  });

  it("validateUpdate never throws", () => {
    fc.assert(
      fc.property(mutatedFixture, mutatedFixture, (a, b) => {
        expect(validateUpdate(a, b)).to.be.an("array");
      }),
      { numRuns: 200 },
    );
  });

  it("withDefaults is idempotent and never throws", () => {
    fc.assert(
      fc.property(fc.oneof(anyDoc, mutatedFixture), (doc) => {
        const once = withDefaults(doc);
        expect(withDefaults(once)).to.deep.equal(once);
      }),
      { numRuns: 400 },
    );
  });

  it("defaulting a valid object keeps it valid", () => {
    for (const { doc } of validManifests()) expect(validate(withDefaults(doc))).to.deep.equal([]);
  });
});
