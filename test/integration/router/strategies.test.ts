// Strategies against real simulated engines: the defining behaviour of each, observed through the router.
import { expect } from "chai";
import { StaticDiscovery } from "../../../router/discovery/static.js";
import { startRouter, type Router } from "../../../router/server.js";
import { SIMULATOR_TOKENIZER_DIR, startSimulator, type RunningSimulator } from "../../../simulator/index.js";
import { until } from "../../support/until.js";

const MODEL = "llama-3-8b";

async function complete(router: Router, prompt: string, strategy: string, maxTokens = 2): Promise<string> {
  const res = await fetch(router.url + "/v1/completions", {
    method: "POST",
    headers: { "content-type": "application/json", "routing-strategy": strategy },
    body: JSON.stringify({ model: MODEL, prompt, max_tokens: maxTokens }),
  });
  expect(res.status).to.equal(200);
  await res.text();
  return res.headers.get("target-pod")!;
}

/** Prefill `prompt` on `sim` directly, not through a router: only the engine's KV events can tell a router. */
async function completeDirect(sim: RunningSimulator, prompt: string): Promise<void> {
  const res = await fetch(`${sim.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, prompt, max_tokens: 1 }),
  });
  expect(res.status).to.equal(200);
  await res.text();
}

describe("routing strategies on simulated engines", function () {
  this.timeout(60000);
  let sims: RunningSimulator[] = [];
  let router: Router;
  const id = (s: RunningSimulator) => `${s.host}:${s.port}`;

  before(async () => {
    sims = await Promise.all(
      [0, 1, 2].map(() =>
        startSimulator({
          model: MODEL,
          calibration: "h100-8b",
          speedup: 20,
          kvEventsPort: 0,
          tokenizer: SIMULATOR_TOKENIZER_DIR,
        }),
      ),
    );
    router = await startRouter({
      port: 0,
      logLevel: "silent",
      scrapeIntervalMs: 50,
      prefix: { blockSize: 16 },
      tokenizers: { [MODEL]: SIMULATOR_TOKENIZER_DIR },
      discovery: new StaticDiscovery(
        sims.map((s) => ({
          id: id(s),
          host: s.host,
          port: s.port,
          model: MODEL,
          adapters: [],
          engine: "vllm",
          kvEvents: { endpoint: s.kvEventsEndpoint!, topic: s.kvEventsTopic },
        })),
      ),
    });
  });
  after(async () => {
    await router?.close();
    await Promise.all(sims.map((s) => s.close()));
  });

  it("prefix-cache keeps a tenant's shared prefix on one engine", async () => {
    const prefix = "You are the support assistant of tenant seven. Policies: refunds within thirty days, ".repeat(6);
    const targets = new Set<string>();
    for (let i = 0; i < 8; i++) targets.add(await complete(router, `${prefix} question ${i}?`, "prefix-cache"));
    expect(targets.size).to.equal(1);
  });

  it("least-kv-cache avoids the engine whose cache is full", async () => {
    sims[0]!.setFaults({ metricOverrides: { "vllm:kv_cache_usage_perc": 0.97 } });
    sims[1]!.setFaults({ metricOverrides: { "vllm:kv_cache_usage_perc": 0.5 } });
    sims[2]!.setFaults({ metricOverrides: { "vllm:kv_cache_usage_perc": 0.2 } });
    await router.scrapeNow();
    try {
      for (let i = 0; i < 6; i++) expect(await complete(router, `kv ${i}`, "least-kv-cache")).to.equal(id(sims[2]!));
    } finally {
      for (const s of sims) s.setFaults({ metricOverrides: { "vllm:kv_cache_usage_perc": null } });
    }
  });

  it("kv-prefix routes to the engine whose KV events report the prompt's blocks", async () => {
    const prompt = "Shared retrieval context about the quarterly revenue of the northern region, ".repeat(10);
    const warm = sims[1]!;
    // Earlier tests may have left blocks there: wait for this prompt's, which the engine reports after prefill.
    const before = router.kvIndex.blocks(id(warm));
    await completeDirect(warm, prompt);
    await until("the prompt's blocks in the router's index", () => router.kvIndex.blocks(id(warm)) > before, 2000);
    expect(router.kvIndex.blocks(id(warm))).to.be.greaterThan(before);
    for (let i = 0; i < 5; i++) expect(await complete(router, prompt + ` tail ${i}`, "kv-prefix")).to.equal(id(warm));
    // The feed is visible on /metrics: batches per engine and the blocks the index holds for each.
    const text = await (await fetch(`${router.url}/metrics`)).text();
    const sample = (name: string, endpoint: string) =>
      Number(text.match(new RegExp(`^${name}\\{endpoint="${endpoint}"\\} (\\S+)$`, "m"))?.[1] ?? NaN);
    expect(sample("aibrix_router_kv_event_batches_total", id(warm))).to.be.greaterThan(0);
    expect(sample("aibrix_router_kv_index_blocks", id(warm))).to.equal(router.kvIndex.blocks(id(warm)));
    expect(sample("aibrix_router_kv_index_blocks", id(warm))).to.be.greaterThan(0);
  });

  it("kv-prefix: requests for a prefix the engine is computing wait for its KV events instead of recomputing it", async () => {
    // Slow motion, so the prefix's prefill (about 3,000 tokens, some 600 ms here) is still running when the followers
    // arrive, even on a busy machine.
    const sim = await startSimulator({
      model: MODEL,
      calibration: "h100-8b",
      speedup: 0.1,
      kvEventsPort: 0,
      tokenizer: SIMULATOR_TOKENIZER_DIR,
    });
    const own = await startRouter({
      port: 0,
      logLevel: "silent",
      tokenizers: { [MODEL]: SIMULATOR_TOKENIZER_DIR },
      discovery: new StaticDiscovery([
        {
          id: id(sim),
          host: sim.host,
          port: sim.port,
          model: MODEL,
          adapters: [],
          engine: "vllm",
          kvEvents: { endpoint: sim.kvEventsEndpoint!, topic: sim.kvEventsTopic },
        },
      ]),
    });
    try {
      const waits = async (outcome: string): Promise<number> => {
        const m = await own.metrics.registry.getSingleMetric("aibrix_router_prefill_waits_total")!.get();
        return m.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
      };
      // A subscription takes effect some time after it is sent, and events published before then are lost: wait
      // until the feed delivers before the leader's blocks depend on it.
      await completeDirect(sim, "Warm-up prompt that fills more than one block. ".repeat(4));
      await until("the warm-up's blocks in the router's index", () => own.kvIndex.blocks(id(sim)) > 0, 5000);
      expect(own.kvIndex.blocks(id(sim)), "blocks the router saw stored before the leader").to.be.greaterThan(0);
      const prefix = "A new tenant's system prompt with its own rules, tools and worked examples. ".repeat(200);
      const leader = complete(own, `${prefix} question 0`, "kv-prefix");
      // The leader is on its way to the engine once the router registers its blocks as being computed there.
      await until("the leader's prefill to be registered", () => own.prefills.computingBlocks(id(sim)) > 0, 1000);
      expect(own.prefills.computingBlocks(id(sim))).to.be.greaterThan(32);
      await Promise.all([leader, ...[1, 2, 3].map((i) => complete(own, `${prefix} question ${i}`, "kv-prefix"))]);
      const outcomes = {
        stored: await waits("stored"),
        released: await waits("released"),
        timeout: await waits("timeout"),
      };
      expect(outcomes).to.deep.equal({ stored: 3, released: 0, timeout: 0 });
    } finally {
      await own.close();
      await sim.close();
    }
  });

  it("least-request spreads concurrent long requests evenly", async () => {
    const targets = await Promise.all(
      Array.from({ length: 9 }, (_, i) => complete(router, `long ${i}`, "least-request", 1000)),
    );
    const counts = new Map<string, number>();
    for (const t of targets) counts.set(t, (counts.get(t) ?? 0) + 1);
    expect([...counts.values()].sort()).to.deep.equal([3, 3, 3]);
  });
});
