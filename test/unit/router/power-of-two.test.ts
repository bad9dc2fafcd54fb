import { expect } from "chai";
import { Endpoint } from "../../../router/endpoints/endpoints.js";
import { powerOfTwoBy } from "../../../router/picking/scorers.js";

describe("power-of-two over a shared count", () => {
  const made: Endpoint[] = [];
  const ep = (n: number): Endpoint => {
    const e = new Endpoint(
      { id: `10.0.0.${n}:8000`, host: `10.0.0.${n}`, port: 8000, model: "m", adapters: [], engine: "vllm" },
      { connections: 1, connectTimeoutMs: 100 },
    );
    made.push(e);
    return e;
  };
  after(async () => {
    await Promise.all(made.map((e) => e.close()));
  });

  it("rates exactly two distinct candidates, the lower count higher", () => {
    const remote = new Map([["10.0.0.1:8000", 9]]);
    const cands = [ep(1), ep(2), ep(3), ep(4)];
    const scorer = powerOfTwoBy("power-of-two", (e) => e.inFlight + (remote.get(e.id) ?? 0));
    const out = new Float64Array(cands.length);
    const req = { model: "m", promptText: "", headers: {}, hashes: () => [] };
    let remoteLoadedWon = 0;
    for (let i = 0; i < 200; i++) {
      scorer.score(req, cands, out, { now: 0, staleAfterMs: 1, registry: undefined as never });
      const rated = [...out].filter((v) => v > 0);
      expect(rated.sort()).to.deep.equal([0.5, 1]);
      if (out[0] === 1) remoteLoadedWon++;
    }
    // The endpoint busy on another replica (9 there, 0 elsewhere) never wins its pair.
    expect(remoteLoadedWon).to.equal(0);
  });

  it("a single candidate gets the full score", () => {
    const out = new Float64Array(1);
    const scorer = powerOfTwoBy("power-of-two", () => 0);
    scorer.score({ model: "m", promptText: "", headers: {}, hashes: () => [] }, [ep(5)], out, {
      now: 0,
      staleAfterMs: 1,
      registry: undefined as never,
    });
    expect(out[0]).to.equal(1);
  });
});
