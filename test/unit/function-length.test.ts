// Functions a reader can hold in their head: none in the production folders over 80 lines, except the ones listed
// below, each at most as long as it is now. The list only shrinks: a listed function that got shorter than its entry
// (or under the limit, or gone) fails too, so the entry is lowered or removed in the same change.
import { expect } from "chai";
import { functionLengths, productionFiles } from "../support/function-lengths.js";

const LIMIT = 80;

/** `file:function` → its length in lines today. No new entries: split the function instead. */
const ALLOWED_LONGER: Record<string, number> = {
  "simulator/engine.ts:Engine.plan": 103,
  "webhooks/review.ts:parseAdmissionReview": 91,
  // Command-line flag tables: one `.option(...)` per flag, no logic.
  "cli/cluster.ts:registerCluster": 112,
  "cli/simulator.ts:registerSimulator": 96,
  "cli/webhooks.ts:registerWebhooks": 91,
};

describe("function length", () => {
  const lengths = functionLengths(productionFiles());
  const byId = new Map(lengths.map((f) => [f.id, f]));

  it(`no production function is over ${LIMIT} lines unless listed, and none grows past its entry`, () => {
    const over = lengths
      .filter((f) => f.lines > LIMIT && !(f.lines <= (ALLOWED_LONGER[f.id] ?? 0)))
      .map(
        (f) =>
          `${f.id} (line ${f.line}): ${f.lines} lines${ALLOWED_LONGER[f.id] ? `, listed at ${ALLOWED_LONGER[f.id]}` : ""}`,
      );
    expect(over, `split these into named pieces:\n${over.join("\n")}`).to.deep.equal([]);
  });

  it("the list of longer functions only shrinks: each entry is exactly as long as the function is now", () => {
    const stale = Object.entries(ALLOWED_LONGER)
      .filter(([id, lines]) => byId.get(id)?.lines !== lines)
      .map(([id]) => {
        const now = byId.get(id);
        if (!now) return `${id}: gone; remove its entry`;
        if (now.lines <= LIMIT) return `${id}: ${now.lines} lines now, within the limit; remove its entry`;
        return `${id}: ${now.lines} lines now; set its entry to that`;
      });
    expect(stale, stale.join("\n")).to.deep.equal([]);
  });

  it("the router (its request path included) has no function over the limit, and no entry in the list", () => {
    const long = lengths.filter((f) => f.file.startsWith("router/") && f.lines > LIMIT).map((f) => f.id);
    expect(long).to.deep.equal([]);
    expect(Object.keys(ALLOWED_LONGER).filter((id) => id.startsWith("router/"))).to.deep.equal([]);
  });

  it("measures a function's whole span, its closures included", () => {
    const startRouter = byId.get("router/server.ts:startRouter");
    expect(startRouter, "router/server.ts:startRouter is measured").to.not.equal(undefined);
    expect(startRouter!.lines).to.be.greaterThan(1);
  });
});
