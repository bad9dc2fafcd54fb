// Two router replicas in front of the same simulated engines, sharing one real redis-server: a prompt prefix routed
// by one replica is routed to the same engine by the other.
import { expect } from "chai";
import { Redis } from "ioredis";
import { StaticDiscovery, toEndpointSpec } from "../../../router/discovery/static.js";
import { prefixSyncChannel } from "../../../router/picking/prefix-sync.js";
import { startRouter, type Router } from "../../../router/server.js";
import { endpointEntry, startSimulator, type RunningSimulator } from "../../../simulator/index.js";
import { startRedis, type RunningRedis } from "../../support/redis-server.js";

const MODEL = "llama-3-8b";

async function complete(router: Router, prompt: string): Promise<string> {
  const res = await fetch(router.url + "/v1/completions", {
    method: "POST",
    headers: { "content-type": "application/json", "routing-strategy": "prefix-cache" },
    body: JSON.stringify({ model: MODEL, prompt, max_tokens: 1 }),
  });
  expect(res.status).to.equal(200);
  await res.text();
  return res.headers.get("target-pod")!;
}

describe("router replicas sharing the prefix index through Redis", function () {
  this.timeout(30_000);
  let redis: RunningRedis;
  let sims: RunningSimulator[] = [];
  const routers: Router[] = [];

  before(async () => {
    redis = await startRedis();
    sims = await Promise.all(
      [0, 1, 2, 3].map(() => startSimulator({ model: MODEL, calibration: "h100-8b", speedup: 20 })),
    );
    for (let i = 0; i < 2; i++) {
      routers.push(
        await startRouter({
          port: 0,
          logLevel: "silent",
          scrapeIntervalMs: 50,
          prefix: { blockSize: 16 },
          prefixSync: { redisUrl: redis.url },
          discovery: new StaticDiscovery(sims.map((s) => toEndpointSpec(endpointEntry(s), "simulator"))),
        }),
      );
    }
    // Pub/sub keeps no history: wait until both replicas listen.
    const probe = new Redis(redis.url);
    try {
      for (let i = 0; i < 300; i++) {
        const [, count] = (await probe.pubsub("NUMSUB", prefixSyncChannel)) as [string, number];
        if (Number(count) >= 2) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      probe.disconnect();
    }
  });

  after(async () => {
    for (const r of routers) await r.close();
    await Promise.all(sims.map((s) => s.close()));
    await redis?.stop();
  });

  it("sends follow-ups of a prefix first routed by replica A to the same engine through replica B", async () => {
    const [a, b] = routers as [Router, Router];
    const firsts: string[] = [];
    // Five distinct prefixes: with four engines, B agreeing on all five by chance is about 1 in 1000.
    const prefixes = [0, 1, 2, 3, 4].map((k) => `Tenant ${k} system prompt: answer politely and briefly. `.repeat(8));
    for (const p of prefixes) firsts.push(await complete(a, p + "first question?"));
    await new Promise((r) => setTimeout(r, 300));
    for (let k = 0; k < prefixes.length; k++) {
      expect(await complete(b, prefixes[k] + "second question?")).to.equal(firsts[k]);
    }
  });
});
