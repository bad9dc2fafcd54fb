import { expect } from "chai";
import fc from "fast-check";
import { Endpoint, EndpointRegistry } from "../../../router/endpoints/endpoints.js";
import { KvBlockIndex } from "../../../router/picking/kv-index.js";
import { pick } from "../../../router/picking/pick.js";
import { PrefixIndex } from "../../../router/picking/prefix-index.js";
import { PipelineCatalog, StrategyError } from "../../../router/picking/pipelines.js";
import {
  decodeSessionId,
  defaultPrefixScorerOptions,
  encodeSessionId,
  engineKeysFor,
  offloadedBlockWeightFor,
} from "../../../router/picking/scorers.js";
import { kvPrefixScorer } from "../../../router/picking/scorers/kv-prefix.js";
import type { PickEnv, PickRequest } from "../../../router/picking/types.js";
import { PromptTokens } from "../../../router/prompts/prompt.js";

const eps: Endpoint[] = [];
function ep(n: number, set: Partial<Endpoint> = {}, metrics: Endpoint["metrics"] = {}): Endpoint {
  const e = new Endpoint(
    {
      id: `10.0.0.${n}:8000`,
      host: `10.0.0.${n}`,
      port: 8000,
      model: "m",
      adapters: [],
      engine: "vllm",
      labels: { zone: n % 2 ? "odd" : "even" },
    },
    { connections: 1, connectTimeoutMs: 100 },
  );
  Object.assign(e, set);
  e.metrics = metrics;
  e.metricsAt = Date.now();
  eps.push(e);
  return e;
}

/** A request whose engine keys are its approximate hashes (the engines of these tests report those). */
function request(text = "hello world", headers: Record<string, string> = {}, adapter?: string): PickRequest {
  const p = new PromptTokens(text, adapter);
  const hashes = (bs: number) => p.blockHashes(bs);
  return { model: adapter ?? "m", adapter, promptText: text, headers, hashes, engineKeys: hashes };
}

const env = (): PickEnv => ({
  now: Date.now(),
  staleAfterMs: 500,
  registry: new EndpointRegistry({ connections: 1, connectTimeoutMs: 100 }, 500),
});

function winners(
  catalog: PipelineCatalog,
  strategy: string,
  cands: Endpoint[],
  n = 200,
  req = request(),
): Map<string, number> {
  const counts = new Map<string, number>();
  const pipeline = catalog.resolve(strategy);
  for (let i = 0; i < n; i++) {
    const id = pick(pipeline, req, cands, env()).endpoint!.id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe("endpoint picking", () => {
  let catalog: PipelineCatalog;
  let prefix: PrefixIndex;
  let kv: KvBlockIndex;
  beforeEach(() => {
    prefix = new PrefixIndex();
    kv = new KvBlockIndex();
    catalog = new PipelineCatalog(
      { prefixIndex: prefix, kvIndex: kv },
      { blockSize: 4, imbalanceAbs: 8, stdDevFactor: 1 },
    );
  });
  after(async () => {
    await Promise.all(eps.map((e) => e.close()));
  });

  it("random spreads uniformly", () => {
    const c = winners(catalog, "random", [ep(1), ep(2), ep(3)], 600);
    expect(c.size).to.equal(3);
    for (const v of c.values()) expect(v).to.be.within(120, 280);
  });

  it("least-request picks the fewest router-tracked in-flight requests", () => {
    const c = winners(catalog, "least-request", [
      ep(1, { inFlight: 5 }),
      ep(2, { inFlight: 1 }),
      ep(3, { inFlight: 3 }),
    ]);
    expect([...c.keys()]).to.deep.equal(["10.0.0.2:8000"]);
  });

  it("least-kv-cache avoids the engine whose cache is full (gpu + cpu)", () => {
    const c = winners(catalog, "least-kv-cache", [
      ep(1, {}, { kvUsage: 0.95 }),
      ep(2, {}, { kvUsage: 0.3, cpuKvUsage: 0.5 }),
      ep(3, {}, { kvUsage: 0.5 }),
    ]);
    expect([...c.keys()]).to.deep.equal(["10.0.0.3:8000"]);
  });

  it("least-gpu-cache looks at GPU usage only", () => {
    const c = winners(catalog, "least-gpu-cache", [
      ep(1, {}, { kvUsage: 0.6 }),
      ep(2, {}, { kvUsage: 0.3, cpuKvUsage: 0.5 }),
    ]);
    expect([...c.keys()]).to.deep.equal(["10.0.0.2:8000"]);
  });

  it("stale metrics never win", () => {
    const stale = ep(1, {}, { kvUsage: 0 });
    stale.metricsAt = Date.now() - 10_000;
    const c = winners(catalog, "least-kv-cache", [stale, ep(2, {}, { kvUsage: 0.9 }), ep(3, {}, { kvUsage: 0.8 })]);
    expect([...c.keys()]).to.deep.equal(["10.0.0.3:8000"]);
  });

  it("throughput prefers the engine doing the least token work", () => {
    const c = winners(catalog, "throughput", [
      ep(1, { promptTps: 1000, genTps: 100 }),
      ep(2, { promptTps: 100, genTps: 100 }),
    ]);
    expect([...c.keys()]).to.deep.equal(["10.0.0.2:8000"]);
  });

  it("least-busy-time, least-utilization and least-latency each pick the idle engine", () => {
    expect([
      ...winners(catalog, "least-busy-time", [ep(1, { busyRatio: 0.9 }), ep(2, { busyRatio: 0.1 })]).keys(),
    ]).to.deep.equal(["10.0.0.2:8000"]);
    expect([
      ...winners(catalog, "least-utilization", [
        ep(1, {}, { waiting: 10, kvUsage: 0.2 }),
        ep(2, {}, { waiting: 0, kvUsage: 0.5 }),
      ]).keys(),
    ]).to.deep.equal(["10.0.0.2:8000"]);
    const slow = { meanQueueTime: 2, meanTpot: 0.05 };
    const fast = { meanQueueTime: 0.1, meanTpot: 0.02 };
    expect([...winners(catalog, "least-latency", [ep(1, {}, slow), ep(2, {}, fast)]).keys()]).to.deep.equal([
      "10.0.0.2:8000",
    ]);
  });

  it("metric-less strategies fall back to random", () => {
    const c = winners(catalog, "least-latency", [ep(1), ep(2)], 400);
    expect(c.size).to.equal(2);
  });

  it("power-of-two never picks the busiest of two", () => {
    const c = winners(catalog, "power-of-two", [ep(1, { inFlight: 9 }), ep(2, { inFlight: 0 })]);
    expect([...c.keys()]).to.deep.equal(["10.0.0.2:8000"]);
    const three = winners(
      catalog,
      "power-of-two",
      [ep(3, { inFlight: 9 }), ep(4, { inFlight: 0 }), ep(5, { inFlight: 1 })],
      300,
    );
    expect(three.get("10.0.0.3:8000") ?? 0).to.equal(0);
  });

  it("prefix-cache sends a repeated prefix to the same engine until that engine is overloaded", () => {
    const a = ep(1);
    const b = ep(2);
    const c = ep(3);
    const long = "the same long system prompt shared by every request of this tenant ".repeat(4);
    const pipeline = catalog.resolve("prefix-cache");
    const first = pick(pipeline, request(long + "q1"), [a, b, c], env()).endpoint!;
    for (let i = 0; i < 20; i++) {
      expect(pick(pipeline, request(long + `q${i + 2}`), [a, b, c], env()).endpoint).to.equal(first);
    }
    // The warm engine is now far busier than the others: affinity yields to load.
    first.inFlight = 12;
    const next = pick(pipeline, request(long + "q99"), [a, b, c], env()).endpoint!;
    expect(next).to.not.equal(first);
  });

  it("at light load, a prefix stays with its engine when that engine serves the only request in flight", () => {
    // Three endpoints, one request in flight (1, 0, 0): mean + σ would be 0.8, under the holder's single request.
    const [a, b, c] = [ep(1), ep(2), ep(3)];
    const long = "a tenant system prompt long enough to fill several blocks of tokens ".repeat(4);
    for (const strategy of ["prefix-cache", "kv-prefix-load"]) {
      const pipeline = catalog.resolve(strategy);
      for (const e of [a, b, c]) e.inFlight = 0;
      const warm = pick(pipeline, request(long + strategy + " q0"), [a, b, c], env()).endpoint!;
      warm.inFlight = 1;
      for (let i = 1; i < 10; i++) {
        expect(pick(pipeline, request(long + `${strategy} q${i}`), [a, b, c], env()).endpoint, strategy).to.equal(warm);
      }
    }
  });

  it("with imbalanceRel, affinity yields only when the gap is large in both absolute and relative terms", () => {
    const rel = new PipelineCatalog(
      { prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() },
      {
        blockSize: 4,
        imbalanceAbs: 8,
        imbalanceRel: 1.5,
        stdDevFactor: 3,
      },
    );
    const pipeline = rel.resolve("prefix-cache");
    const [a, b, c] = [ep(1), ep(2), ep(3)];
    const long = "a tenant system prompt long enough to fill several blocks of tokens ".repeat(4);
    const warm = pick(pipeline, request(long + "q0"), [a, b, c], env()).endpoint!;
    const others = [a, b, c].filter((x) => x !== warm);
    // Gap 10 > 8 but 30 ≤ 1.5 × 20: a busy fleet, not an imbalanced one: stay with the warm engine.
    warm.inFlight = 30;
    for (const o of others) o.inFlight = 20;
    expect(pick(pipeline, request(long + "q1"), [a, b, c], env()).endpoint).to.equal(warm);
    // Gap 10 > 8 and 12 > 1.5 × 2: imbalanced, balance wins.
    warm.inFlight = 12;
    for (const o of others) o.inFlight = 2;
    expect(pick(pipeline, request(long + "q2"), [a, b, c], env()).endpoint).to.not.equal(warm);
  });

  it("by default, affinity holds through an overloaded fleet's queues and yields to a gap of 64 and 1.5×", () => {
    expect(defaultPrefixScorerOptions).to.include({ imbalanceAbs: 64, imbalanceRel: 1.5 });
    for (const strategy of ["prefix-cache", "kv-prefix-load"]) {
      const byDefault = new PipelineCatalog(
        { prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() },
        { ...defaultPrefixScorerOptions, blockSize: 4 },
      ).resolve(strategy);
      const [a, b] = [ep(1), ep(2)];
      const long = `a tenant system prompt long enough to fill several blocks of tokens (${strategy}) `.repeat(4);
      const warm = pick(byDefault, request(long + "q0"), [a, b], env()).endpoint!;
      const other = warm === a ? b : a;
      // Both engines queueing, the warm one 40 requests deeper: AIBrix's gap of 8 would scatter the tenant.
      warm.inFlight = 140;
      other.inFlight = 100;
      expect(pick(byDefault, request(long + "q1"), [a, b], env()).endpoint, strategy).to.equal(warm);
      // 70 deeper and more than 1.5× the other's: imbalanced, balance wins.
      warm.inFlight = 130;
      other.inFlight = 60;
      expect(pick(byDefault, request(long + "q2"), [a, b], env()).endpoint, strategy).to.equal(other);
    }
  });

  it("kv-prefix follows the engines' reported blocks exactly", () => {
    const a = ep(1);
    const b = ep(2);
    const text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu";
    const req = request(text);
    kv.apply(b.id, {
      ts: 0,
      events: [{ type: "BlockStored", hashes: [...req.hashes(4)], tokenIds: [], blockSize: 4 }],
    });
    expect([...winners(catalog, "kv-prefix", [a, b], 50, req).keys()]).to.deep.equal([b.id]);
  });

  it("credits a block held in a tier by what a load saves: 1 − load time / compute time", () => {
    // 64 KiB of KV per token over 100 Gbit/s against a prefill of 128 µs per token (Llama-3.1-8B FP8 on an A10G).
    const costs = { tierBytesPerSecond: 100e9 / 8, kvBytesPerToken: 65_536, prefillSecondsPerToken: 1.28e-4 };
    expect(offloadedBlockWeightFor(costs)).to.be.closeTo(1 - 65_536 / 12.5e9 / 1.28e-4, 1e-12);
    expect(offloadedBlockWeightFor(costs)).to.be.closeTo(0.959, 0.001);
    // A tier slower than computing is worth nothing, not less.
    expect(offloadedBlockWeightFor({ ...costs, tierBytesPerSecond: 1e6 })).to.equal(0);
    expect(() => offloadedBlockWeightFor({ ...costs, prefillSecondsPerToken: 0 })).to.throw(/prefillSecondsPerToken/);
  });

  it("kv-prefix weighs a block in the shared tier by its pipeline's offloadedBlockWeight", () => {
    const own = new KvBlockIndex();
    const c = new PipelineCatalog(
      { prefixIndex: new PrefixIndex(), kvIndex: own },
      { blockSize: 4, imbalanceAbs: 8, stdDevFactor: 1 },
      {
        near: { scorers: [{ name: "kv-prefix", parameters: { offloadedBlockWeight: 0.9 } }] },
      },
    );
    const [hot, warm] = [ep(1), ep(2)];
    const req = request("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu");
    const keys = [...req.hashes(4)];
    const store = (id: string, hashes: bigint[], medium: string) =>
      own.apply(id, { ts: 0, events: [{ type: "BlockStored", hashes, tokenIds: [], blockSize: 4, medium }] });
    // The tier holds every block for both engines; "hot" has the first half in GPU too.
    for (const e of [hot, warm]) store(e.id, keys, "CPU");
    store(hot.id, keys.slice(0, keys.length / 2), "GPU");
    const scores = (strategy: string) => {
      const out = new Float64Array(2);
      c.resolve(strategy).scorers[0]!.scorer.score(req, [hot, warm], out, env());
      return [...out];
    };
    const [h9, w9] = scores("near");
    expect(w9).to.be.closeTo(0.9, 1e-12);
    expect(h9).to.be.closeTo(0.5 + 0.5 * 0.9, 1e-12);
    // The default (0.5) when the costs are not known.
    const [h5, w5] = scores("kv-prefix");
    expect([h5, w5]).to.deep.equal([0.75, 0.5]);
    const bad = () =>
      new PipelineCatalog({ prefixIndex: new PrefixIndex(), kvIndex: own }, undefined, {
        p: { scorers: [{ name: "kv-prefix", parameters: { offloadedBlockWeight: 1.5 } }] },
      });
    expect(bad).to.throw(StrategyError, /offloadedBlockWeight/);
  });

  it("kv-prefix without the engine's keys (no tokenizer) routes like prefix-cache and says so once", () => {
    const a = ep(1);
    const b = ep(2);
    const fallbacks: string[] = [];
    const own = new PipelineCatalog(
      { prefixIndex: new PrefixIndex(), kvIndex: new KvBlockIndex() },
      undefined,
      {},
      [],
      (m) => fallbacks.push(m),
    );
    const text = "a tenant prompt long enough to fill several blocks of four tokens each, and then some more";
    const { engineKeys: _, ...noKeys } = request(text);
    const first = pick(own.resolve("kv-prefix"), noKeys, [a, b], env()).endpoint;
    // Learnt from the routing decision, as prefix-cache learns: the same prefix follows it.
    for (let i = 0; i < 10; i++) expect(pick(own.resolve("kv-prefix"), noKeys, [a, b], env()).endpoint).to.equal(first);
    expect(fallbacks).to.deep.equal(["m"]);
  });

  it("kv-prefix keys an adapter's blocks by the path every candidate engine loaded it from", () => {
    const a = ep(1);
    const b = ep(2);
    const seen: unknown[] = [];
    const req: PickRequest = {
      ...request("x", {}, "sql"),
      engineKeys: (_bs, algo, lora) => (seen.push([algo, lora]), [1n]),
    };
    a.adapterPaths.set("sql", "/adapters/sql");
    expect(engineKeysFor(req, [a, b], defaultPrefixScorerOptions)).to.equal(undefined);
    b.adapterPaths.set("sql", "/elsewhere/sql");
    expect(engineKeysFor(req, [a, b], defaultPrefixScorerOptions)).to.equal(undefined);
    b.adapterPaths.set("sql", "/adapters/sql");
    b.metrics.prefixHashAlgo = a.metrics.prefixHashAlgo = "sha256_cbor";
    expect(engineKeysFor(req, [a, b], defaultPrefixScorerOptions)).to.deep.equal([1n]);
    expect(seen).to.deep.equal([["sha256_cbor", { name: "sql", path: "/adapters/sql" }]]);
    a.metrics.prefixHashAlgo = "xxhash"; // seeded per engine process: nobody else can compute it
    expect(engineKeysFor(req, [a, b], defaultPrefixScorerOptions)).to.equal(undefined);
  });

  it("kv-prefix places a prefix no engine holds on the engine the router has sent the fewest blocks", () => {
    const a = ep(1);
    const b = ep(2);
    const c = ep(3);
    const now = Date.now();
    const blocks = (from: number, n: number) => Array.from({ length: n }, (_, i) => BigInt(from + i));
    // Every cache full, as a prefix-caching engine's is in steady state; b happens to report one block fewer.
    for (const [e, n] of [
      [a, 43],
      [b, 42],
      [c, 43],
    ] as const)
      kv.apply(e.id, {
        ts: 0,
        events: [{ type: "BlockStored", hashes: blocks(n * 1000, n), tokenIds: [], blockSize: 4 }],
      });
    const routed = new PrefixIndex();
    routed.insert("m", blocks(100, 30), a.id, now);
    routed.insert("m", blocks(200, 30), b.id, now);
    routed.insert("m", blocks(300, 10), c.id, now);
    const scorer = kvPrefixScorer(kv, { blockSize: 4, imbalanceAbs: 8, stdDevFactor: 1 }, routed);
    const out = new Float64Array(3);
    scorer.score(
      request("a brand new tenant prompt that no engine has seen before, long enough for blocks"),
      [a, b, c],
      out,
      {
        ...env(),
        now,
      },
    );
    expect([...out]).to.deep.equal([0, 0, 0.5]);
  });

  it("kv-prefix keeps a tenant whose blocks aged out of every engine on the engine it was last sent to", () => {
    // Under KV pressure a tenant's blocks are evicted between its requests. Placing it as a new prefix would move it
    // away from its engine (the one the router has sent the most blocks), as a prefix-cache router would not.
    const [a, b, c] = [ep(1), ep(2), ep(3)];
    const routed = new PrefixIndex();
    const scorer = kvPrefixScorer(kv, { blockSize: 4, imbalanceAbs: 8, stdDevFactor: 1 }, routed);
    const tenant = request("tenant t: answer from the handbook, cite the section, keep it short and precise");
    const t0 = Date.now();
    scorer.onPicked!(tenant, b, { ...env(), now: t0 });
    const out = new Float64Array(3);
    // Ten minutes later no engine reports any of its blocks: the routing history still counts, a little less.
    scorer.score(tenant, [a, b, c], out, { ...env(), now: t0 + 600_000 });
    expect([...out]).to.deep.equal([0, 0.9, 0]);
    // Within the report grace (the engine has not finished its prefill) routed blocks count in full.
    scorer.score(tenant, [a, b, c], out, { ...env(), now: t0 + 1000 });
    expect([...out]).to.deep.equal([0, 1, 0]);
    // Blocks an engine reports outweigh where the router sent them earlier.
    kv.apply(c.id, {
      ts: 0,
      events: [{ type: "BlockStored", hashes: [...tenant.hashes(4)], tokenIds: [], blockSize: 4 }],
    });
    scorer.score(tenant, [a, b, c], out, { ...env(), now: t0 + 600_000 });
    expect([...out]).to.deep.equal([0, 0.9, 1]);
  });

  it("kv-prefix-load keeps an evicted tenant on its engine against an idle one, as prefix-cache does", () => {
    // A tenant's prefix is 3 of the prompt's 5 blocks (the real-engine benchmark's shape); its engine is the busiest
    // within the load guard, another engine is idle, and no engine reports the tenant's blocks any more.
    const [a, b, c] = [ep(1, { inFlight: 0 }), ep(2, { inFlight: 2 }), ep(3, { inFlight: 1 })];
    const prefix = "tenant t answers from the handbook, citing: ";
    const ask = (q: string) => request(prefix + q);
    const [first, second] = [ask("what does section one say?"), ask("and section two, briefly?")];
    expect([first.hashes(4).length, second.hashes(4).length]).to.deep.equal([5, 5]);
    expect(second.hashes(4).filter((h, i) => first.hashes(4)[i] === h).length).to.equal(3);
    const t0 = Date.now();
    for (const strategy of ["kv-prefix-load", "prefix-cache"]) {
      const pipeline = catalog.resolve(strategy);
      pick(pipeline, first, [b], { ...env(), now: t0 });
      const next = pick(pipeline, second, [a, b, c], { ...env(), now: t0 + 600_000 });
      expect(next.endpoint, strategy).to.equal(b);
    }
  });

  it("every pipeline that weighs kv-prefix learns from one routing history, the router's", () => {
    // A tenant sent to b by kv-prefix-load is b's for a pipeline with its own kv-prefix parameters too, as
    // prefix-cache's pipelines share the router's prefix index.
    const routedBlockKeys = new PrefixIndex();
    const shared = new PipelineCatalog(
      { prefixIndex: prefix, kvIndex: kv, routedBlockKeys },
      { blockSize: 4, imbalanceAbs: 8, stdDevFactor: 1 },
      { tuned: { scorers: [{ name: "kv-prefix", parameters: { offloadedBlockWeight: 0.9 } }] } },
    );
    const [a, b, c] = [ep(1), ep(2), ep(3)];
    const tenant = request("tenant t: answer from the handbook, cite the section, keep it short and precise");
    const t0 = Date.now();
    expect(pick(shared.resolve("kv-prefix-load"), tenant, [b], { ...env(), now: t0 }).endpoint).to.equal(b);
    expect(routedBlockKeys.blocksOf(b.id)).to.equal(tenant.hashes(4).length);
    const later = { ...env(), now: t0 + 600_000 };
    expect(pick(shared.resolve("tuned"), tenant, [a, b, c], later).endpoint).to.equal(b);
    expect(pick(shared.resolve("kv-prefix"), tenant, [c, a, b], later).endpoint).to.equal(b);
  });

  it("kv-prefix-load spreads new tenants evenly over engines whose caches are full, and each follows its engine", () => {
    const cands = [ep(1), ep(2), ep(3)];
    const blocks = (from: number, n: number) => Array.from({ length: n }, (_, i) => BigInt(from + i));
    cands.forEach((e, i) => {
      const n = i === 1 ? 42 : 43;
      kv.apply(e.id, {
        ts: 0,
        events: [{ type: "BlockStored", hashes: blocks(i * 1000, n), tokenIds: [], blockSize: 4 }],
      });
    });
    const pipeline = catalog.resolve("kv-prefix-load");
    const tenant = (t: number) =>
      request(`tenant ${String.fromCharCode(97 + t)}: answer from the handbook, cite the section`);
    const home = new Map<number, string>();
    for (let t = 0; t < 12; t++) home.set(t, pick(pipeline, tenant(t), cands, env()).endpoint!.id);
    const per = cands.map((e) => [...home.values()].filter((id) => id === e.id).length);
    expect(per).to.deep.equal([4, 4, 4]);
    for (let t = 0; t < 12; t++) expect(pick(pipeline, tenant(t), cands, env()).endpoint!.id).to.equal(home.get(t));
  });

  it("both prefix strategies spread new prefixes by blocks routed, not by whichever engine has fewer requests in flight", () => {
    // The router has sent b one tenant's prefix less than a and c, but b has the most requests in flight (within the
    // load guard): the new tenant still goes to b, so tenants end up evenly spread for the rest of the run.
    const a = ep(1, { inFlight: 1 });
    const b = ep(2, { inFlight: 2 });
    const c = ep(3, { inFlight: 2 });
    const tenants = (e: Endpoint, names: string[]) =>
      names.map((n) => [e, request(`tenant ${n}, whose prompt is long enough to fill several blocks`)] as const);
    const routedBefore = [...tenants(a, ["a", "b"]), ...tenants(b, ["c"]), ...tenants(c, ["d", "e"])];
    // Routed through the pipelines themselves, one candidate at a time, so each strategy learns them.
    for (const strategy of ["kv-prefix-load", "prefix-cache:3,least-request:1"]) {
      for (const [e, req] of routedBefore) pick(catalog.resolve(strategy), req, [e], env());
    }
    const req = request("another brand new tenant prompt, long enough to fill several blocks of four tokens");
    expect([...winners(catalog, "kv-prefix-load", [a, b, c], 1, req).keys()]).to.deep.equal([b.id]);
    const other = request("yet another tenant, whose prompt no engine holds either, long enough for blocks");
    expect([...winners(catalog, "prefix-cache:3,least-request:1", [a, b, c], 1, other).keys()]).to.deep.equal([b.id]);
  });

  it("only strategies that route on engine metrics mark them as in use (the scraper's short interval)", () => {
    const read = (strategy: string, req = request("a prompt of a few words")) => {
      const cands = [ep(1), ep(2)];
      winners(catalog, strategy, cands, 1, req);
      return cands.map((c) => c.metricsReadAt > -Infinity);
    };
    for (const s of ["random", "least-request", "power-of-two", "prefix-cache", "kv-prefix-load", "session-affinity"]) {
      expect(read(s), s).to.deep.equal([false, false]);
    }
    for (const s of [
      "least-kv-cache",
      "least-gpu-cache",
      "throughput",
      "least-latency",
      "least-utilization",
      "queue",
    ]) {
      expect(read(s), s).to.deep.equal([true, true]);
    }
    // LoRA residency is read for adapter requests only.
    const adapterReq = request("q", {}, "sql");
    const withAdapter = [ep(1), ep(2)];
    for (const c of withAdapter) c.engineAdapters = new Set(["sql"]);
    winners(catalog, "least-request", withAdapter, 1, adapterReq);
    expect(withAdapter.map((c) => c.metricsReadAt > -Infinity)).to.deep.equal([true, true]);
  });

  it("session-affinity honours x-session-id, then rendezvous-hashes x-aibrix-session-key", () => {
    const cands = [ep(1), ep(2), ep(3)];
    const sid = encodeSessionId(cands[2]!.id);
    expect(decodeSessionId(sid)).to.equal(cands[2]!.id);
    expect([
      ...winners(catalog, "session-affinity", cands, 50, request("x", { "x-session-id": sid })).keys(),
    ]).to.deep.equal([cands[2]!.id]);
    const keyed = winners(catalog, "session-affinity", cands, 50, request("x", { "x-aibrix-session-key": "user-42" }));
    expect(keyed.size).to.equal(1);
    // Removing a different endpoint does not move the key (rendezvous hashing).
    const owner = [...keyed.keys()][0]!;
    const others = cands.filter((c) => c.id !== owner);
    const reduced = [cands.find((c) => c.id === owner)!, others[0]!];
    expect([
      ...winners(catalog, "session-affinity", reduced, 20, request("x", { "x-aibrix-session-key": "user-42" })).keys(),
    ]).to.deep.equal([owner]);
  });

  it("weighted mixes combine normalised scores", () => {
    const a = ep(1, { inFlight: 0 }, { kvUsage: 0.9 });
    const b = ep(2, { inFlight: 4 }, { kvUsage: 0.1 });
    expect([...winners(catalog, "least-request:3,least-kv-cache:1", [a, b]).keys()]).to.deep.equal([a.id]);
    expect([...winners(catalog, "least-request:1,least-kv-cache:3", [a, b]).keys()]).to.deep.equal([b.id]);
  });

  it("adapter requests go only to endpoints with the adapter, preferring free slots", () => {
    const noAdapter = ep(1);
    const full = ep(2, {}, { lora: { maxLora: 1, running: ["other"], waiting: [] } });
    full.engineAdapters = new Set(["sql"]);
    const free = ep(3, {}, { lora: { maxLora: 4, running: ["other"], waiting: [] } });
    free.engineAdapters = new Set(["sql"]);
    const c = winners(catalog, "random", [noAdapter, full, free], 100, request("q", {}, "sql"));
    expect(c.get(noAdapter.id) ?? 0).to.equal(0);
    expect(c.get(free.id)).to.equal(100);
  });

  it("external-filter narrows by labels and rejects malformed selectors", () => {
    const c = winners(catalog, "random", [ep(1), ep(2), ep(3)], 100, request("q", { "external-filter": "zone=odd" }));
    expect([...c.keys()].sort()).to.deep.equal(["10.0.0.1:8000", "10.0.0.3:8000"]);
    expect(() =>
      pick(catalog.resolve("random"), request("q", { "external-filter": "zone in (a)" }), [ep(1), ep(2)], env()),
    ).to.throw(/key=value/);
  });

  it("ejected endpoints are skipped unless every endpoint is ejected", () => {
    const a = ep(1, { ejectedUntil: Date.now() + 10_000 });
    const b = ep(2);
    expect([...winners(catalog, "random", [a, b], 50).keys()]).to.deep.equal([b.id]);
    b.ejectedUntil = Date.now() + 10_000;
    expect(winners(catalog, "random", [a, b], 100).size).to.equal(2);
  });

  it("rejects unknown strategies and bad weights naming the value and rule", () => {
    expect(() => catalog.resolve("fastest")).to.throw(
      StrategyError,
      /unknown routing strategy "fastest"; known: .*least-request/,
    );
    expect(() => catalog.resolve("least-request:-1")).to.throw(
      StrategyError,
      /weight "-1" .* number from 0 to 1000000/,
    );
    expect(() => catalog.resolve("least-request:0")).to.throw(StrategyError, /every weight is 0/);
    expect(() => catalog.resolve("a:1:2")).to.throw(StrategyError, /name or name:weight/);
    expect(
      () =>
        new PipelineCatalog({ prefixIndex: prefix, kvIndex: kv }, undefined, { p: { scorers: [{ name: "nope" }] } }),
    ).to.throw(StrategyError, /pipelines\.p\.scorers\[0\]: unknown routing strategy "nope"/);
    expect(
      () =>
        new PipelineCatalog({ prefixIndex: prefix, kvIndex: kv }, undefined, {
          p: { scorers: [{ name: "queue" }], filters: ["x"] },
        }),
    ).to.throw(StrategyError, /pipelines\.p\.filters\[0\]: "x" is not a filter/);
  });

  it("named pipelines from configuration resolve by name", () => {
    const cat = new PipelineCatalog({ prefixIndex: prefix, kvIndex: kv }, undefined, {
      calm: { filters: ["not-saturated"], scorers: [{ name: "queue", weight: 2 }] },
    });
    const p = cat.resolve("calm");
    expect(p.name).to.equal("calm");
    const busy = ep(1, {}, { waiting: 50, kvUsage: 0.99 });
    const idle = ep(2, {}, { waiting: 0, kvUsage: 0.1 });
    expect(pick(p, request(), [busy, idle], env()).endpoint).to.equal(idle);
  });
});

describe("prefix index", () => {
  it("matches leading blocks only, expires entries, and stays bounded", () => {
    const idx = new PrefixIndex({ maxBlocks: 3, ttlMs: 1000 });
    idx.insert("m", [1n, 2n, 3n], "a", 0);
    expect(Object.fromEntries(idx.matchDepths("m", [1n, 2n, 9n], ["a"], 10))).to.deep.equal({ a: 2 });
    expect(idx.matchDepths("other", [1n], ["a"], 10).size).to.equal(0);
    expect(idx.matchDepths("m", [1n], ["a"], 5000).size).to.equal(0);
    idx.insert("m", [4n, 5n], "b", 0);
    expect(idx.size("m")).to.equal(3);
    idx.sweep(5000);
    expect(idx.size("m")).to.equal(0);
  });

  /** Chained hashes: a block's hash names its whole prefix, as the router's block hashes do. */
  function chainHashes(): (tokens: readonly number[]) => bigint[] {
    const ids = new Map<string, bigint>();
    return (tokens) =>
      tokens.map((_, i) => {
        const prefix = tokens.slice(0, i + 1).join(",");
        let h = ids.get(prefix);
        if (h === undefined) ids.set(prefix, (h = BigInt(ids.size + 1)));
        return h;
      });
  }

  /** The depths by walking every block, as the index's contract states them (absent = 0). */
  function walkedDepths(
    held: (h: bigint, id: string) => number | undefined,
    prompt: readonly bigint[],
    ids: readonly string[],
    since: number,
  ): Map<string, number> {
    const out = new Map<string, number>();
    for (const id of ids) {
      let d = 0;
      while (d < prompt.length && (held(prompt[d]!, id) ?? -Infinity) >= since) d++;
      if (d > 0) out.set(id, d);
    }
    return out;
  }

  const insertArb = fc.record({
    tokens: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 6 }),
    id: fc.constantFrom("a", "b", "c"),
    gap: fc.oneof(fc.integer({ min: 0, max: 150 }), fc.integer({ min: 0, max: 1500 })),
  });

  it("finds each endpoint's depth as a block-by-block walk does, over any ages", () => {
    fc.assert(
      fc.property(
        fc.array(insertArb, { maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 6 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 500 }),
        (inserts, promptTokens, recentMs, wait) => {
          const hash = chainHashes();
          const idx = new PrefixIndex({ maxBlocks: 1000, ttlMs: 2000 });
          const times = new Map<string, number>();
          let now = 0;
          for (const x of inserts) {
            now += x.gap;
            const hashes = hash(x.tokens);
            idx.insert("m", hashes, x.id, now);
            // The index's refresh rule: blocks routed to this endpoint under 100 ms ago keep their times, and the
            // rest take the deepest of those (the oldest).
            const key = (h: bigint) => `${h}/${x.id}`;
            let from = 0;
            while (from < hashes.length && (times.get(key(hashes[from]!)) ?? -Infinity) > now - 100) from++;
            const time = from > 0 ? times.get(key(hashes[from - 1]!))! : now;
            for (const h of hashes.slice(from)) times.set(key(h), time);
          }
          now += wait;
          const ids = ["a", "b", "c"];
          const held = (h: bigint, id: string) => times.get(`${h}/${id}`);
          // Every age at which a block drops out, just within and just past it, besides the one drawn.
          const ages = [...new Set([...times.values()].flatMap((t) => [now - t, now - t - 1]))].filter(
            (age) => age >= 0 && age <= 2000,
          );
          for (const prompt of [hash(promptTokens), ...inserts.map((x) => hash(x.tokens))]) {
            const both = idx.matchDepthsAndRecent("m", prompt, ids, now, recentMs);
            expect(both.all).to.deep.equal(walkedDepths(held, prompt, ids, now - 2000));
            expect(both.recent).to.deep.equal(walkedDepths(held, prompt, ids, now - Math.min(recentMs, 2000)));
            for (const age of ages) {
              expect(idx.matchDepths("m", prompt, ids, now, age)).to.deep.equal(
                walkedDepths(held, prompt, ids, now - age),
              );
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("leaves a prompt start routed again within 100 ms as it is, and gives the rest the oldest of its times", () => {
    const idx = new PrefixIndex({ maxBlocks: 100, ttlMs: 60_000 });
    idx.insert("m", [1n, 2n], "a", 1000);
    idx.insert("m", [1n, 2n, 3n, 4n], "a", 1050); // 1 and 2 keep 1000; 3 and 4 take 1000, not 1050
    const depthWithin = (maxAgeMs: number) => idx.matchDepths("m", [1n, 2n, 3n, 4n], ["a"], 1100, maxAgeMs).get("a");
    expect(depthWithin(100)).to.equal(4);
    expect(depthWithin(99)).to.equal(undefined);
    idx.insert("m", [1n, 2n, 3n, 4n, 5n], "a", 1100); // 100 ms on: every block is routed again, at 1100
    expect(idx.matchDepths("m", [1n, 2n, 3n, 4n, 5n], ["a"], 1100, 0).get("a")).to.equal(5);
  });

  it("evicts chains from their deep end, so what is left of a prompt still matches", () => {
    fc.assert(
      fc.property(fc.array(insertArb, { maxLength: 16 }), fc.integer({ min: 2, max: 6 }), (inserts, maxBlocks) => {
        const hash = chainHashes();
        const idx = new PrefixIndex({ maxBlocks, ttlMs: 60_000 });
        // A second or more between inserts, so every insert moves its blocks (the exception in the index's comment).
        let now = 0;
        const prompts: bigint[][] = [];
        for (const x of inserts) {
          now += 1000 + x.gap;
          prompts.push(hash(x.tokens));
          idx.insert("m", prompts.at(-1)!, x.id, now);
        }
        expect(idx.size("m")).to.be.at.most(maxBlocks);
        for (const prompt of prompts) {
          for (const id of ["a", "b", "c"]) {
            const depth = idx.matchDepths("m", prompt, [id], now).get(id) ?? 0;
            // A one-block query asks exactly whether `id` holds that block: all of them up to the depth, none after.
            const holds = (h: bigint) => idx.matchDepths("m", [h], [id], now).size === 1;
            expect(prompt.map(holds)).to.deep.equal(prompt.map((_, d) => d < depth));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("moves a re-inserted block to the LRU's young end at most once a second, refreshing its time every time", () => {
    const idx = new PrefixIndex({ maxBlocks: 3, ttlMs: 1000 });
    idx.insert("m", [1n, 2n, 3n], "a", 0);
    idx.insert("m", [1n], "a", 500); // within a second: time refreshed, place kept
    expect(Object.fromEntries(idx.matchDepths("m", [1n, 2n], ["a"], 1400))).to.deep.equal({ a: 1 });
    // Deepest first: after [1, 2, 3] the LRU order, oldest first, is 3, 2, 1.
    const lru = new PrefixIndex({ maxBlocks: 3, ttlMs: 60_000 });
    lru.insert("m", [1n, 2n, 3n], "a", 0);
    lru.insert("m", [1n, 2n], "a", 1500); // a second later: 2 then 1 move to the young end
    lru.insert("m", [4n], "a", 1500); // evicts the least recently used: block 3
    const held = (h: bigint) => lru.matchDepths("m", [h], ["a"], 1600).size;
    expect([1n, 2n, 3n, 4n].map(held)).to.deep.equal([1, 1, 0, 1]);
    expect(lru.blocksOf("a")).to.equal(3);
    const kept = new PrefixIndex({ maxBlocks: 3, ttlMs: 60_000 });
    kept.insert("m", [3n, 2n, 1n], "a", 0); // LRU order 1, 2, 3
    kept.insert("m", [1n], "a", 500); // within a second of its move: block 1 stays the oldest
    kept.insert("m", [4n], "a", 600);
    expect([1n, 2n, 3n, 4n].map((h) => kept.matchDepths("m", [h], ["a"], 700).size)).to.deep.equal([0, 1, 1, 1]);
  });

  it("keeps a block routed more often than once a second, however full the index runs", () => {
    const idx = new PrefixIndex({ maxBlocks: 4, ttlMs: 60_000 });
    // The hot block is routed every 400 ms, each time with a new block after it: a block that kept its place for as
    // long as it stayed hot would reach the LRU's old end within 1.6 s and be evicted.
    for (let i = 0; i < 40; i++) {
      const t = i * 400;
      idx.insert("m", [1n, BigInt(1000 + i)], "a", t);
      expect(idx.matchDepths("m", [1n], ["a"], t).get("a"), `at ${t} ms`).to.equal(1);
    }
  });
});
