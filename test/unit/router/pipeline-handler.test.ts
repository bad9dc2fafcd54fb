import { expect } from "chai";
import { Endpoint } from "../../../router/endpoints/endpoints.js";
import { maxScore } from "../../../router/picking/pickers.js";
import { sequentialPipelines, singlePipeline } from "../../../router/picking/pipeline-handler.js";
import type { Candidate, Filter, PickRequest, Pipeline } from "../../../router/picking/types.js";

const opened: Endpoint[] = [];
function endpoint(n: number, role: string, inFlight = 0): Endpoint {
  const ep = new Endpoint(
    {
      id: `10.0.1.${n}:8000`,
      host: `10.0.1.${n}`,
      port: 8000,
      model: "m",
      adapters: [],
      engine: "vllm",
      labels: { role },
    },
    { connections: 1, connectTimeoutMs: 100 },
  );
  ep.inFlight = inFlight;
  opened.push(ep);
  return ep;
}
after(async () => {
  for (const ep of opened) await ep.close();
});

const byRole = (role: string): Filter => ({
  name: `role-${role}`,
  filter: <C extends Candidate>(_req: PickRequest, cands: C[]) => cands.filter((c) => c.spec.labels?.role === role),
});
const fewestInFlight = {
  scorer: {
    name: "least-request",
    score: (_r: PickRequest, cands: readonly Candidate[], out: Float64Array) =>
      cands.forEach((c, i) => (out[i] = -c.inFlight)),
  },
  weight: 1,
};
const pipeline = (name: string, filters: Filter[]): Pipeline => ({
  name,
  filters,
  scorers: [fewestInFlight],
  picker: maxScore,
});
const request: PickRequest = { model: "m", promptText: "", headers: {}, hashes: () => [] };
const env = { now: Date.now(), staleAfterMs: 1000 };

describe("pipeline handlers", () => {
  it("runs one pipeline per role: a prefill endpoint and a decode endpoint for one request", () => {
    const pool = [
      endpoint(1, "prefill", 3),
      endpoint(2, "prefill", 1),
      endpoint(3, "decode", 0),
      endpoint(4, "decode", 2),
    ];
    const pd = sequentialPipelines("pd", [
      { role: "prefill", pipeline: pipeline("prefill", [byRole("prefill")]) },
      { role: "decode", pipeline: pipeline("decode", [byRole("decode")]) },
    ]);
    const picked = pd.pick(request, pool, env);
    expect([...picked.keys()]).to.deep.equal(["prefill", "decode"]);
    expect(picked.get("prefill")!.endpoint).to.equal(pool[1]);
    expect(picked.get("decode")!.endpoint).to.equal(pool[2]);
  });

  it("a later pipeline takes another endpoint than an earlier one, unless none is left", () => {
    const two = [endpoint(5, "any", 0), endpoint(6, "any", 5)];
    const both = sequentialPipelines("both", [
      { role: "first", pipeline: pipeline("a", []) },
      { role: "second", pipeline: pipeline("b", []) },
    ]);
    const picked = both.pick(request, two, env);
    expect(picked.get("first")!.endpoint).to.equal(two[0]);
    expect(picked.get("second")!.endpoint).to.equal(two[1]);
    const one = [endpoint(7, "any")];
    const shared = both.pick(request, one, env);
    expect(shared.get("second")!.endpoint).to.equal(one[0]);
  });

  it("the single-pipeline handler is one role, and bad handlers are refused when built", () => {
    const pool = [endpoint(8, "any")];
    const picked = singlePipeline(pipeline("p", [])).pick(request, pool, env);
    expect([...picked.keys()]).to.deep.equal(["default"]);
    expect(() => sequentialPipelines("none", [])).to.throw(/at least one pipeline/);
    const p = pipeline("p", []);
    expect(() =>
      sequentialPipelines("dup", [
        { role: "r", pipeline: p },
        { role: "r", pipeline: p },
      ]),
    ).to.throw(/each role must appear once/);
  });
});
