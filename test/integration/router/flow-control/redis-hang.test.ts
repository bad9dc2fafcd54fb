// A Redis that hangs (process stopped, connections open) under load: fail-open keeps serving at speed on local state
// within a second, fail-closed answers 503 at once, and both come back by themselves when Redis does.
import { expect } from "chai";
import { pino } from "pino";
import { request } from "undici";
import { createFlowControl } from "../../../../router/flow-control/index.js";
import { StaticDiscovery } from "../../../../router/discovery/static.js";
import { startRouter, type Router } from "../../../../router/server.js";
import { startFakeEngine, type FakeEngine } from "../../../unit/router/fake-engine.js";
import { startRedis, type RunningRedis } from "../../../support/redis-server.js";
import { until } from "../../../support/until.js";

const silent = pino({ level: "silent" });

/** Closed-loop load from `clients` clients for `ms`; resolves with answers per status and the median answer time. */
async function load(url: string, clients: number, ms: number) {
  const statuses = new Map<number, number>();
  const durations: number[] = [];
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const res = await request(`${url}/v1/completions`, {
          method: "POST",
          headers: { user: `u${i % 4}` },
          body: JSON.stringify({ model: "m", prompt: "hello", max_tokens: 2 }),
        });
        await res.body.text();
        durations.push(performance.now() - t0);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      }
    }),
  );
  const total = [...statuses.values()].reduce((a, b) => a + b, 0);
  durations.sort((a, b) => a - b);
  return { perSecond: (total * 1000) / ms, statuses, median: durations[Math.floor(durations.length / 2)] ?? 0 };
}

describe("router flow control with a hung Redis (SIGSTOP)", function () {
  this.timeout(60_000);
  let redis: RunningRedis;
  let engine: FakeEngine;
  const routers: Router[] = [];

  before(async () => {
    redis = await startRedis();
    engine = await startFakeEngine("m");
  });
  afterEach(async () => {
    process.kill(redis.pid, "SIGCONT");
    for (const r of routers.splice(0)) await r.close();
  });
  after(async () => {
    await engine.close();
    await redis.stop();
  });

  async function router(mode: "open" | "closed"): Promise<Router & { redisUp(): boolean }> {
    const flowControl = await createFlowControl({ redisUrl: redis.url, logger: silent, onRedisFailure: mode });
    for (let i = 0; i < 4; i++) await flowControl.users.put({ name: `u${i}`, rpm: 1_000_000, tpm: null, keys: [] });
    const r = await startRouter({
      port: 0,
      logger: silent,
      accessLog: false,
      flowControl: flowControl.control,
      discovery: new StaticDiscovery([
        { id: engine.id, host: engine.host, port: engine.port, model: "m", adapters: [], engine: "vllm" },
      ]),
    });
    routers.push(r);
    return Object.assign(r, { redisUp: () => flowControl.redisUp() });
  }

  it("fail-open serves at speed on local state within a second of Redis hanging, and shares again after", async () => {
    const r = await router("open");
    const before = await load(r.url, 16, 1500);
    process.kill(redis.pid, "SIGSTOP");
    await load(r.url, 16, 1000); // the first second: timeouts detect the hang
    const during = await load(r.url, 16, 2000);
    process.kill(redis.pid, "SIGCONT");
    console.log(`      req/s before ${before.perSecond.toFixed(0)}, Redis hung ${during.perSecond.toFixed(0)}`);
    expect(during.statuses.get(200)).to.equal([...during.statuses.values()].reduce((a, b) => a + b, 0));
    expect(during.perSecond).to.be.above(before.perSecond * 0.5);
    await until("Redis shared again", () => r.redisUp(), 5000);
  });

  it("fail-closed answers 503 at once while Redis hangs and serves again when it is back", async () => {
    const r = await router("closed");
    await load(r.url, 4, 500);
    process.kill(redis.pid, "SIGSTOP");
    await load(r.url, 4, 1000);
    const during = await load(r.url, 4, 1000);
    console.log(
      `      fail-closed while hung: ${JSON.stringify([...during.statuses])}, median ${during.median.toFixed(1)} ms`,
    );
    expect([...during.statuses.keys()]).to.deep.equal([503]);
    // Waiting on Redis would put the median at the 250 ms command timeout; a busy machine stretches single answers.
    expect(during.median).to.be.below(50);
    process.kill(redis.pid, "SIGCONT");
    const start = performance.now();
    for (;;) {
      const after = await load(r.url, 1, 100);
      if (after.statuses.get(200)) break;
      if (performance.now() - start > 5000) throw new Error("still refusing 5 s after Redis came back");
    }
  });
});
