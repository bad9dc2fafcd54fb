import { expect } from "chai";
import { Endpoint, EndpointRegistry } from "../../../router/endpoints/endpoints.js";
import { KvBlockIndex } from "../../../router/picking/kv-index.js";
import { pick } from "../../../router/picking/pick.js";
import { PrefixIndex } from "../../../router/picking/prefix-index.js";
import { PipelineCatalog } from "../../../router/picking/pipelines.js";
import type { PickEnv, PickRequest } from "../../../router/picking/types.js";
import { TokenWindowError, UserTokenWindow } from "../../../router/picking/user-token-window.js";
import {
  defaultVtcBasicOptions,
  estimateTokens,
  vtcBasicScorer,
  vtcPosition,
} from "../../../router/picking/scorers/vtc-basic.js";

const made: Endpoint[] = [];
function ep(n: number, running?: number): Endpoint {
  const e = new Endpoint(
    { id: `10.0.0.${n}:8000`, host: `10.0.0.${n}`, port: 8000, model: "m", adapters: [], engine: "vllm" },
    { connections: 1, connectTimeoutMs: 100 },
  );
  e.metrics = running === undefined ? {} : { running };
  e.metricsAt = Date.now();
  made.push(e);
  return e;
}

function request(user?: string, text = "hello world"): PickRequest {
  return { model: "m", promptText: text, headers: user ? { user } : {}, hashes: () => [] };
}

const env = (now = Date.now()): PickEnv => ({
  now,
  staleAfterMs: 60_000,
  registry: new EndpointRegistry({ connections: 1, connectTimeoutMs: 100 }, 500),
});

function winners(pipelineExpr: string, catalog: PipelineCatalog, cands: Endpoint[], req: PickRequest, n = 100) {
  const pipeline = catalog.resolve(pipelineExpr);
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = pick(pipeline, req, cands, env()).endpoint!.id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

after(async () => {
  await Promise.all(made.map((e) => e.close()));
});

describe("per-user token window", () => {
  it("sums a user's charges inside the window and forgets them after it", () => {
    const w = new UserTokenWindow({ windowMs: 1000, sliceMs: 100 });
    w.add("alice", 300, 10_000);
    w.add("alice", 200, 10_450);
    w.add("bob", 50, 10_450);
    expect(w.get("alice", 10_500)).to.equal(500);
    expect(w.get("bob", 10_500)).to.equal(50);
    expect(w.get("carol", 10_500)).to.equal(0);
    // 10 000 falls out of the window at 11 000; 10 450 still counts.
    expect(w.get("alice", 11_050)).to.equal(200);
    expect(w.get("alice", 11_500)).to.equal(0);
  });

  it("reports min and max user totals, none when the window is empty", () => {
    const w = new UserTokenWindow({ windowMs: 1000, sliceMs: 100 });
    expect(w.minMax(0)).to.deep.equal({ min: undefined, max: undefined });
    w.add("a", 100, 0);
    w.add("b", 700, 0);
    w.add("a", 100, 50);
    expect(w.minMax(60)).to.deep.equal({ min: 200, max: 700 });
    expect(w.minMax(5000)).to.deep.equal({ min: undefined, max: undefined });
  });

  it("between full passes, charges widen the range at once (a new light user lowers the minimum)", () => {
    const w = new UserTokenWindow({ windowMs: 100_000, sliceMs: 10_000 }); // full pass at most once per second
    w.add("a", 100, 0);
    expect(w.minMax(0)).to.deep.equal({ min: 100, max: 100 });
    w.add("b", 5000, 10);
    w.add("c", 1, 20);
    expect(w.minMax(30)).to.deep.equal({ min: 1, max: 5000 });
  });

  it("rejects a bad window or slice, naming the field and the rule", () => {
    expect(() => new UserTokenWindow({ windowMs: 0 })).to.throw(TokenWindowError, /windowMs: 0 must be a positive/);
    expect(() => new UserTokenWindow({ windowMs: 1000, sliceMs: 5000 })).to.throw(
      TokenWindowError,
      /sliceMs: 5000 must be positive and at most windowMs \(1000\)/,
    );
  });
});

describe("vtc-basic", () => {
  const o = defaultVtcBasicOptions;

  it("maps tokens to a position: bucket max(1000, (min+max)/2), clamped to n − 1", () => {
    expect(vtcPosition(0, 1000, 8000, 4, o)).to.equal(0);
    expect(vtcPosition(4500, 1000, 8000, 4, o)).to.equal(1); // bucket 4500
    expect(vtcPosition(9000, 1000, 8000, 4, o)).to.equal(2);
    expect(vtcPosition(1e9, 1000, 8000, 4, o)).to.equal(3);
    expect(vtcPosition(500, 100, 300, 4, o)).to.equal(0.5); // bucket floor 1000
  });

  it("estimates input as characters / 4 and output as 1.5 × input", () => {
    expect(estimateTokens("x".repeat(400))).to.deep.equal({ input: 100, output: 150 });
    expect(estimateTokens("")).to.deep.equal({ input: 0, output: 0 });
  });

  it("sends a light user to the first endpoint and a heavy user to the last, in endpoint-id order", () => {
    const window = new UserTokenWindow();
    const catalog = new PipelineCatalog(
      { prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() },
      undefined,
      {},
      [vtcBasicScorer(window)],
    );
    const cands = [ep(3), ep(1), ep(2)]; // listed out of order on purpose
    const now = Date.now();
    window.add("heavy", 1_000_000, now);
    window.add("mid", 4_500, now); // min 4 500, max 1 000 000 → bucket 502 250
    // A fresh user: 0 tokens → position 0 → the smallest id.
    const light = winners(
      "vtc-basic",
      new PipelineCatalog({ prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() }),
      cands,
      request("new"),
      30,
    );
    expect([...light.keys()]).to.deep.equal(["10.0.0.1:8000"]);
    const heavy = winners("vtc-basic", catalog, cands, request("heavy", ""), 30);
    expect([...heavy.keys()]).to.deep.equal(["10.0.0.3:8000"]);
  });

  it("charges input·1 + estimated output·2 to the user after each pick", () => {
    const window = new UserTokenWindow();
    const scorer = vtcBasicScorer(window);
    const e = env();
    scorer.onPicked!(request("alice", "x".repeat(400)), ep(1), e);
    expect(window.get("alice", e.now)).to.equal(100 + 150 * 2);
    scorer.onPicked!(request(undefined, "x".repeat(400)), ep(1), e);
    expect(window.minMax(e.now + 1_000_000).max).to.equal(undefined);
  });

  it("charges a request once, not again when it is retried on another endpoint", () => {
    const window = new UserTokenWindow();
    const scorer = vtcBasicScorer(window);
    const e = env();
    const req = request("alice", "x".repeat(400));
    scorer.onPicked!(req, ep(1), e);
    scorer.onPicked!({ ...req, attempt: 1 }, ep(2), e);
    expect(window.get("alice", e.now)).to.equal(100 + 150 * 2);
  });

  it("moves away from a loaded endpoint: min(running/100, 1) outweighs a half-step of position", () => {
    const window = new UserTokenWindow();
    const now = Date.now();
    window.add("u", 500, now); // no other user: min = max = 500 → bucket 1000 → position 0.5
    const catalog = new PipelineCatalog(
      { prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() },
      undefined,
      {},
      [vtcBasicScorer(window)],
    );
    const idle = winners("vtc-basic", catalog, [ep(1, 0), ep(2, 0)], request("u", ""), 200);
    expect(idle.size, "equal positions and load split the picks").to.equal(2);
    const loaded = winners("vtc-basic", catalog, [ep(1, 60), ep(2, 0)], request("u", ""), 50);
    expect([...loaded.keys()]).to.deep.equal(["10.0.0.2:8000"]);
  });

  it("without a user header has no opinion: picks spread over every endpoint", () => {
    const catalog = new PipelineCatalog({ prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() });
    const counts = winners("vtc-basic", catalog, [ep(1), ep(2), ep(3)], request(undefined), 300);
    expect(counts.size).to.equal(3);
    for (const c of counts.values()) expect(c).to.be.above(40);
  });

  it("works in weighted lists like any strategy", () => {
    const catalog = new PipelineCatalog({ prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() });
    const pipeline = catalog.resolve("vtc-basic:3,least-request:1");
    expect(pipeline.scorers.map((s) => `${s.scorer.name}:${s.weight}`)).to.include.members([
      "vtc-basic:3",
      "least-request:1",
    ]);
    const a = ep(1);
    const b = ep(2);
    b.inFlight = 5;
    // A new user sits at position 0 (a) and a has fewer in-flight requests: both scorers agree.
    const counts = winners("vtc-basic:3,least-request:1", catalog, [a, b], request("fresh"), 20);
    expect([...counts.keys()]).to.deep.equal([a.id]);
  });
});
