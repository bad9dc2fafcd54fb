import { expect } from "chai";
import { parseRouterConfig, RouterConfigError } from "../../../router/config.js";

const PIPELINE = "  cache-then-load:\n    filters: [not-saturated]\n    scorers: [{name: prefix-cache, weight: 3}]\n";

describe("router configuration file: named picking pipelines", () => {
  it("reads pipelines: without a warning", () => {
    const warnings: string[] = [];
    const c = parseRouterConfig(`pipelines:\n${PIPELINE}`, "r.yaml", (m) => warnings.push(m));
    expect(c.pipelines).to.deep.equal({
      "cache-then-load": { filters: ["not-saturated"], scorers: [{ name: "prefix-cache", weight: 3 }] },
    });
    expect(warnings).to.deep.equal([]);
  });

  it("still reads the old key profiles:, warning that it is deprecated", () => {
    const warnings: string[] = [];
    const c = parseRouterConfig(`profiles:\n${PIPELINE}`, "r.yaml", (m) => warnings.push(m));
    expect(Object.keys(c.pipelines ?? {})).to.deep.equal(["cache-then-load"]);
    expect(warnings).to.deep.equal(["r.yaml: profiles: is deprecated; rename it pipelines: (same format)"]);
  });

  it("refuses both keys, and names the key it read when its value is not a mapping", () => {
    expect(() => parseRouterConfig(`pipelines:\n${PIPELINE}profiles:\n${PIPELINE}`, "r.yaml", () => {})).to.throw(
      RouterConfigError,
      "r.yaml: profiles: is the old name of pipelines:; give only pipelines:",
    );
    expect(() => parseRouterConfig("pipelines: [a]\n", "r.yaml")).to.throw(
      "r.yaml: pipelines: must be a mapping of name → {filters, scorers, picker}",
    );
    expect(() => parseRouterConfig("profiles: 3\n", "r.yaml", () => {})).to.throw(
      "r.yaml: profiles: must be a mapping of name → {filters, scorers, picker}",
    );
    expect(() => parseRouterConfig("pipeline: {}\n", "r.yaml")).to.throw(
      /pipeline: unknown setting; known: .*pipelines/,
    );
  });
});

describe("router configuration file: prefix settings", () => {
  it("takes the credit of a tier-held block (0 to 1) and refuses more, naming the field", () => {
    expect(parseRouterConfig("prefix: {offloadedBlockWeight: 0.89}\n", "r.yaml").prefix).to.deep.equal({
      offloadedBlockWeight: 0.89,
    });
    expect(() => parseRouterConfig("prefix: {offloadedBlockWeight: 1.5}\n", "r.yaml")).to.throw(
      RouterConfigError,
      "r.yaml: prefix.offloadedBlockWeight: 1.5 must be at most 1 (a block in GPU counts 1)",
    );
    expect(() => parseRouterConfig("prefix: {offloadedBlockWeight: -1}\n", "r.yaml")).to.throw(/must be a number ≥ 0/);
  });
});
