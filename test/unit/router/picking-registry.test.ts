import { expect } from "chai";
import { Endpoint } from "../../../router/endpoints/endpoints.js";
import { KvBlockIndex } from "../../../router/picking/kv-index.js";
import { pick } from "../../../router/picking/pick.js";
import { PrefixIndex } from "../../../router/picking/prefix-index.js";
import { describePipeline, PipelineCatalog, StrategyError } from "../../../router/picking/pipelines.js";
import { SCORER_PLUGINS } from "../../../router/picking/registry.js";
import type { PickRequest } from "../../../router/picking/types.js";

const catalog = (pipelines = {}) =>
  new PipelineCatalog({ prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() }, undefined, pipelines);

describe("picking plugin registry", () => {
  it("builds every strategy name from the registry, one plugin per name", () => {
    const names = SCORER_PLUGINS.map((p) => p.name);
    expect(new Set(names).size).to.equal(names.length);
    const c = catalog();
    for (const name of names) expect(c.resolve(name).scorers[0]!.scorer.name).to.equal(name);
  });

  it("shows the filters and scorers every pipeline gets, marked as defaults", () => {
    expect(describePipeline(catalog().resolve("prefix-cache:3"))).to.equal(
      "adapter-loaded* → external-filter* → prefix-cache×3 + least-request×0.001* + lora-affinity×0.5* → max-score",
    );
    expect(describePipeline(catalog().resolve("random"))).to.equal(
      "adapter-loaded* → external-filter* → random×1 + lora-affinity×0.5* → max-score",
    );
  });

  it("gives a pipeline's scorer its own parameters, checked against the plugin's schema", () => {
    const c = catalog({
      coarse: { scorers: [{ name: "prefix-cache", parameters: { blockSize: 64 } }], picker: "weighted-random" },
    });
    const coarse = c.resolve("coarse");
    expect(coarse.scorers[0]!.scorer).to.not.equal(c.scorers.get("prefix-cache"));
    expect(coarse.picker.name).to.equal("weighted-random");
    const bad = () => catalog({ p: { scorers: [{ name: "prefix-cache", parameters: { blockSize: 0 } }] } });
    expect(bad).to.throw(StrategyError, /pipelines\.p\.scorers\[0\]\.parameters\.blockSize: .*1/);
    const unknown = () => catalog({ p: { scorers: [{ name: "least-request", parameters: { depth: 2 } }] } });
    expect(unknown).to.throw(StrategyError, /pipelines\.p\.scorers\[0\]\.parameters/);
  });

  it("times every plugin a pick runs", () => {
    const eps = [1, 2].map(
      (n) =>
        new Endpoint(
          { id: `10.0.2.${n}:8000`, host: `10.0.2.${n}`, port: 8000, model: "m", adapters: [], engine: "vllm" },
          { connections: 1, connectTimeoutMs: 100 },
        ),
    );
    const timed: string[] = [];
    const req: PickRequest = { model: "m", promptText: "", headers: {}, hashes: () => [] };
    const env = {
      now: Date.now(),
      staleAfterMs: 1000,
      timing: (kind: string, name: string) => timed.push(`${kind} ${name}`),
    };
    pick(catalog().resolve("least-request"), req, eps, env);
    expect(timed).to.deep.equal([
      "filter adapter-loaded",
      "filter external-filter",
      "scorer least-request",
      "scorer lora-affinity",
      "picker max-score",
    ]);
    for (const ep of eps) void ep.close();
  });
});
