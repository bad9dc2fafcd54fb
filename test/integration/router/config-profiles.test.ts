// Config profiles, vtc-basic and shared picking state observed through the router's HTTP surface, in front of
// simulated engines (and a real redis-server for two router replicas).
import { expect } from "chai";
import { pino } from "pino";
import { createFlowControl } from "../../../router/flow-control/index.js";
import type { LimitsConfig } from "../../../router/flow-control/limits/limiter.js";
import { StaticDiscovery } from "../../../router/discovery/static.js";
import type { EndpointSpec } from "../../../router/endpoints/endpoints.js";
import type { ConfigProfileDoc } from "../../../router/profiles/types.js";
import { startRouter, type Router } from "../../../router/server.js";
import { startSimulator, type RunningSimulator } from "../../../simulator/index.js";
import { startRedis, type RunningRedis } from "../../support/redis-server.js";

const MODEL = "llama-3-8b";
const OTHER = "qwen-7b";

interface Answer {
  status: number;
  strategy: string | null;
  configProfile: string | null;
  target: string | null;
  body: string;
}

async function complete(
  router: Router,
  headers: Record<string, string>,
  prompt = "hello",
  model = MODEL,
): Promise<Answer> {
  const res = await fetch(router.url + "/v1/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model, prompt, max_tokens: 1 }),
  });
  return {
    status: res.status,
    strategy: res.headers.get("routing-strategy"),
    configProfile: res.headers.get("x-aibrix-config-profile"),
    target: res.headers.get("target-pod"),
    body: await res.text(),
  };
}

const doc: ConfigProfileDoc = {
  defaultProfile: "spread",
  profiles: {
    spread: { routingStrategy: "random" },
    fair: { routingStrategy: "vtc-basic" },
    calm: { routingStrategy: "least-request" },
  },
};

describe("config profiles and vtc-basic through the router", function () {
  this.timeout(60_000);
  let sims: RunningSimulator[] = [];
  let other: RunningSimulator;
  let discovery: StaticDiscovery;
  let router: Router;
  const spec = (s: RunningSimulator, model: string, config?: ConfigProfileDoc): EndpointSpec => ({
    id: `${s.host}:${s.port}`,
    host: s.host,
    port: s.port,
    model,
    adapters: [],
    engine: "vllm",
    ...(config ? { config } : {}),
  });
  const ids = () => sims.map((s) => `${s.host}:${s.port}`).sort();

  before(async () => {
    sims = await Promise.all(
      [0, 1, 2].map(() => startSimulator({ model: MODEL, calibration: "h100-8b", speedup: 50 })),
    );
    other = await startSimulator({ model: OTHER, calibration: "h100-8b", speedup: 50 });
    discovery = new StaticDiscovery([...sims.map((s) => spec(s, MODEL, doc)), spec(other, OTHER)]);
    router = await startRouter({ port: 0, logLevel: "silent", discovery, defaultStrategy: "throughput" });
  });
  after(async () => {
    await router?.close();
    await Promise.all([...sims, other].filter(Boolean).map((s) => s.close()));
  });

  it("uses the document's default profile and names it in x-aibrix-config-profile", async () => {
    const a = await complete(router, {});
    expect(a.status).to.equal(200);
    expect(a.strategy).to.equal("random");
    expect(a.configProfile).to.equal("spread");
  });

  it("the config-profile header picks a profile; the routing-strategy header beats the profile's strategy", async () => {
    const calm = await complete(router, { "config-profile": "calm" });
    expect([calm.status, calm.strategy, calm.configProfile]).to.deep.equal([200, "least-request", "calm"]);
    const both = await complete(router, { "config-profile": "calm", "routing-strategy": "least-kv-cache" });
    expect([both.status, both.strategy, both.configProfile]).to.deep.equal([200, "least-kv-cache", "calm"]);
    const unknown = await complete(router, { "config-profile": "nope" });
    expect([unknown.strategy, unknown.configProfile]).to.deep.equal(["random", "spread"]);
    const bad = await complete(router, { "config-profile": "calm", "routing-strategy": "fastest" });
    expect(bad.status).to.equal(400);
    expect(JSON.parse(bad.body).error.param).to.equal("routing-strategy");
  });

  it("a model without a document keeps the router default and sends no profile header", async () => {
    const a = await complete(router, {}, "hello", OTHER);
    expect([a.status, a.strategy, a.configProfile]).to.deep.equal([200, "throughput", null]);
  });

  it("lockedRoutingStrategy beats the request's header", async () => {
    const locked: ConfigProfileDoc = { ...doc, lockedRoutingStrategy: "least-gpu-cache" };
    discovery.set([...sims.map((s) => spec(s, MODEL, locked)), spec(other, OTHER)]);
    try {
      const a = await complete(router, { "routing-strategy": "random", "config-profile": "calm" });
      expect([a.status, a.strategy, a.configProfile]).to.deep.equal([200, "least-gpu-cache", "calm"]);
    } finally {
      discovery.set([...sims.map((s) => spec(s, MODEL, doc)), spec(other, OTHER)]);
    }
  });

  it("vtc-basic: a user with few tokens stays on the first engine; no user spreads over all", async () => {
    const first = ids()[0];
    for (let i = 0; i < 5; i++) {
      const a = await complete(router, { "config-profile": "fair", user: "newcomer" }, "short question");
      expect([a.status, a.strategy, a.target]).to.deep.equal([200, "vtc-basic", first]);
    }
    const targets = new Set<string>();
    for (let i = 0; i < 24; i++) targets.add((await complete(router, { "routing-strategy": "vtc-basic" })).target!);
    expect(targets.size).to.be.at.least(2);
  });
});

describe("vtc-basic shared by two router replicas through Redis", function () {
  this.timeout(60_000);
  let sims: RunningSimulator[] = [];
  let redis: RunningRedis;
  let a: Router, b: Router;

  before(async () => {
    redis = await startRedis();
    sims = await Promise.all(
      [0, 1, 2].map(() => startSimulator({ model: MODEL, calibration: "h100-8b", speedup: 50 })),
    );
    const specs = sims.map((s): EndpointSpec => ({
      id: `${s.host}:${s.port}`,
      host: s.host,
      port: s.port,
      model: MODEL,
      adapters: [],
      engine: "vllm",
    }));
    const opts = { port: 0, logLevel: "silent", sharedPicking: { redisUrl: redis.url } };
    a = await startRouter({ ...opts, discovery: new StaticDiscovery(specs) });
    b = await startRouter({ ...opts, discovery: new StaticDiscovery(specs) });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await Promise.all(sims.map((s) => s.close()));
    await redis?.stop();
  });

  it("a heavy user's tokens charged on replica A send it to the last engine on replica B", async () => {
    const sorted = sims.map((s) => `${s.host}:${s.port}`).sort();
    const h = { "routing-strategy": "vtc-basic" };
    // A light user (5 tokens) and a heavy one (4 000: 1 000 in + 2 × 1 500 out) on A.
    expect((await complete(a, { ...h, user: "light" }, "hi")).status).to.equal(200);
    expect((await complete(a, { ...h, user: "heavy" }, "x".repeat(4_000))).status).to.equal(200);
    // On B, once synced: min 5, max 4 000 → bucket 2 002.5 → position ≈ 2 = the last engine.
    let target: string | null = null;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      target = (await complete(b, { ...h, user: "heavy" }, "?")).target;
      if (target === sorted[2]) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(target).to.equal(sorted[2]);
    // power-of-two is served with the shared counts too.
    expect((await complete(b, { "routing-strategy": "power-of-two" })).status).to.equal(200);
  });
});

describe("a config profile's requestsPerSecond through the router's flow control", function () {
  this.timeout(60_000);
  let sim: RunningSimulator;
  const routers: Router[] = [];
  const limited: ConfigProfileDoc = {
    defaultProfile: "slow",
    profiles: { slow: { routingStrategy: "random", requestsPerSecond: 2 }, open: { routingStrategy: "random" } },
  };

  before(async () => {
    sim = await startSimulator({ model: MODEL, calibration: "h100-8b", speedup: 50 });
  });
  after(async () => {
    for (const r of routers) await r.close();
    await sim?.close();
  });

  async function routerWith(limits: Partial<LimitsConfig>): Promise<Router> {
    const flowControl = await createFlowControl({ logger: pino({ level: "silent" }), limits });
    const discovery = new StaticDiscovery([
      {
        id: `${sim.host}:${sim.port}`,
        host: sim.host,
        port: sim.port,
        model: MODEL,
        adapters: [],
        engine: "vllm",
        config: limited,
      },
    ]);
    const router = await startRouter({ port: 0, logLevel: "silent", discovery, flowControl: flowControl.control });
    routers.push(router);
    return router;
  }

  it("limits the model to the profile's rate while that profile is chosen, naming the limit", async () => {
    const router = await routerWith({});
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await complete(router, {}));
    expect(answers.slice(0, 2).map((a) => a.status)).to.deep.equal([200, 200]);
    const refused = answers.slice(2);
    expect(refused.map((a) => a.status)).to.include(429);
    expect(refused.find((a) => a.status === 429)!.body).to.match(/model-rps|requests per second/i);
    // Another profile of the same model sets no rate: its requests pass.
    expect((await complete(router, { "config-profile": "open" })).status).to.equal(200);
  });

  it("lets a rate the flow-control config sets for the model win over the profile's", async () => {
    const router = await routerWith({ models: { [MODEL]: { rps: 100 } } });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await complete(router, {})).status);
    expect(statuses).to.deep.equal([200, 200, 200, 200, 200]);
  });
});
