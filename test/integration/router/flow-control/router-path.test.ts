// The whole request path: clients → two router replicas (real HTTP) sharing one real Redis → simulated engines.
import { expect } from "chai";
import { pino } from "pino";
import { createFlowControl, type FlowControlService } from "../../../../router/flow-control/index.js";
import { StaticDiscovery, toEndpointSpec } from "../../../../router/discovery/static.js";
import { startRouter, type Router } from "../../../../router/server.js";
import { endpointEntry, startSimulator, type RunningSimulator } from "../../../../simulator/index.js";
import { startRedis, type RunningRedis } from "../../../support/redis-server.js";

const silent = pino({ level: "silent" });

describe("router with flow control (two replicas, one Redis, simulated engines)", function () {
  this.timeout(60_000);
  let redis: RunningRedis;
  let simA: RunningSimulator;
  let simB: RunningSimulator;
  const routers: Router[] = [];
  const flowControls: FlowControlService[] = [];

  before(async () => {
    redis = await startRedis();
    simA = await startSimulator({ model: "model-a", speedup: 20, maxNumSeqs: 64 });
    simB = await startSimulator({ model: "model-b", speedup: 20, maxNumSeqs: 64 });
    for (let i = 0; i < 2; i++) {
      const flowControl = await createFlowControl({
        redisUrl: redis.url,
        logger: silent,
        keyPrefix: "path:",
        limits: { models: { "model-a": { concurrency: 1 } } },
      });
      flowControls.push(flowControl);
      routers.push(
        await startRouter({
          port: 0,
          logger: silent,
          accessLog: false,
          flowControl: flowControl.control,
          discovery: new StaticDiscovery([simA, simB].map((s) => toEndpointSpec(endpointEntry(s), "simulator"))),
        }),
      );
    }
  });
  after(async () => {
    for (const r of routers) await r.close(); // closes its flow control too
    await simA?.close();
    await simB?.close();
    await redis?.stop();
  });

  const chat = async (router: Router, model: string, headers: Record<string, string> = {}, extra: object = {}) => {
    const res = await fetch(`${router.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hello there" }], max_tokens: 4, ...extra }),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };

  it("holds one user's RPM across both replicas and answers 429s in OpenAI shape with rate-limit headers", async () => {
    await flowControls[0]!.users.put({ name: "limited", rpm: 10, tpm: null, keys: [] });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => chat(routers[i % 2]!, "model-b", { user: "limited" })),
    );
    expect(results.filter((r) => r.status === 200).length).to.equal(10);
    const limited = results.filter((r) => r.status === 429);
    expect(limited.length).to.equal(20);
    const r = limited[0]!;
    expect(r.body.error).to.include({ type: "rate_limit_error", code: "rate_limit_exceeded" });
    expect(r.headers.get("retry-after")).to.match(/^\d+$/);
    expect(r.headers.get("x-ratelimit-exceeded")).to.equal("rpm");
    expect(r.headers.get("x-ratelimit-limit-requests")).to.equal("10");
    const ok = results.find((x) => x.status === 200)!;
    expect(ok.headers.get("x-ratelimit-remaining-requests")).to.match(/^\d+$/);
  });

  it("isolates models: a burst queued on model-a does not slow model-b beyond 250 ms p90", async () => {
    const baseline: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      expect((await chat(routers[0]!, "model-b", { user: "b-user" })).status).to.equal(200);
      baseline.push(performance.now() - t);
    }
    // 40 requests on model-a with concurrency 1 (shared): most of them wait in the fair queues.
    const burst = Array.from({ length: 40 }, (_, i) =>
      chat(routers[i % 2]!, "model-a", { user: "burster" }, { max_tokens: 16 }),
    );
    const queued = () => flowControls[0]!.queueDepth("model-a") + flowControls[1]!.queueDepth("model-a");
    for (let i = 0; i < 150 && queued() <= 5; i++) await new Promise((r) => setTimeout(r, 20));
    expect(flowControls[0]!.queueDepth("model-a") + flowControls[1]!.queueDepth("model-a")).to.be.greaterThan(5);
    const during: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      expect((await chat(routers[i % 2]!, "model-b", { user: "b-user" })).status).to.equal(200);
      during.push(performance.now() - t);
    }
    const p90 = [...during].sort((x, y) => x - y)[8]!;
    const base = [...baseline].sort((x, y) => x - y)[2]!;
    expect(p90 - base).to.be.lessThan(250);
    const results = await Promise.all(burst);
    expect(results.every((r) => r.status === 200)).to.equal(true);
  });

  it("keeps answering every request while Redis is killed and restarted mid-run", async () => {
    await flowControls[0]!.users.put({ name: "steady", rpm: 100_000, tpm: null, keys: [] });
    let stop = false;
    const statuses: number[] = [];
    const clients = Array.from({ length: 4 }, async (_, w) => {
      while (!stop) statuses.push((await chat(routers[w % 2]!, "model-b", { user: "steady" })).status);
    });
    await new Promise((r) => setTimeout(r, 300));
    await redis.stop();
    await new Promise((r) => setTimeout(r, 700));
    await redis.restart();
    const end = Date.now() + 10_000;
    while (!(flowControls[0]!.redisUp() && flowControls[1]!.redisUp()) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(clients);
    expect(statuses.length).to.be.greaterThan(20);
    expect(statuses.filter((s) => s !== 200)).to.deep.equal([]);
    expect(flowControls[0]!.redisUp() && flowControls[1]!.redisUp()).to.equal(true);
  });
});
