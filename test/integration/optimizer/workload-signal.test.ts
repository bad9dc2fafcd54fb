// The workload signal end to end on real parts: a real router in front of simulated engines counts finished requests
// by token shape; the optimizer reads them from the router's /metrics and, through a real redis-server, from
// upstream's trace keys, and sizes the model's Deployments from them.
import { expect } from "chai";
import { Redis } from "ioredis";
import { ProfileSet } from "../../../api/gpu-profile.js";
import { traceKeyPrefix } from "../../../api/workload-signal.js";
import { StaticDiscovery, toEndpointSpec } from "../../../router/discovery/static.js";
import { startRouter, type Router } from "../../../router/server.js";
import { WorkloadSignal } from "../../../router/metrics/workload-signal.js";
import { endpointEntry, startSimulator, type RunningSimulator } from "../../../simulator/index.js";
import { RedisTraceSource, RouterMetricsSource } from "../../../optimizer/signal-sources.js";
import { startOptimizer } from "../../../optimizer/server.js";
import type { ModelDeployment } from "../../../optimizer/fleet.js";
import { startRedis, type RunningRedis } from "../../support/redis-server.js";

const MODEL = "opt-model";
const PROFILES = new ProfileSet({
  gpus: { small: {}, big: {} },
  models: {
    [MODEL]: {
      profiles: [
        { gpu: "small", cost: 1, tputs: [[4, 0]], indexes: [[64], [128, 4096]] },
        { gpu: "big", cost: 4, tputs: [[10, 5]], indexes: [[64], [128, 4096]] },
      ],
    },
  },
});
const deployment = (name: string, gpuType: string): ModelDeployment => ({
  namespace: "default",
  name,
  model: MODEL,
  gpuType,
  replicas: 1,
  readyReplicas: 1,
  minReplicas: 0,
  gpusPerReplica: 1,
});

describe("workload signal: router → optimizer", function () {
  this.timeout(60_000);
  let redis: RunningRedis;
  let sim: RunningSimulator;
  let router: Router;
  let signal: WorkloadSignal;

  before(async () => {
    redis = await startRedis();
    sim = await startSimulator({ model: MODEL, calibration: "h100-8b", speedup: 50 });
    signal = new WorkloadSignal({ redisUrl: redis.url, intervalSeconds: 1 });
    router = await startRouter({
      discovery: new StaticDiscovery([toEndpointSpec(endpointEntry(sim), "simulator")]),
      flowControl: signal.wrap(undefined),
      logLevel: "silent",
    });
    signal.publishOn(router.metrics.registry);
  });
  after(async () => {
    await router?.close();
    await signal?.close();
    await sim?.close();
    await redis?.stop();
  });

  async function send(words: number, maxTokens: number, n: number, stream = false) {
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${router.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: MODEL,
          prompt: "hello ".repeat(words),
          max_tokens: maxTokens,
          ignore_eos: true,
          stream,
          ...(stream ? { stream_options: { include_usage: true } } : {}),
        }),
      });
      expect(res.status).to.equal(200);
      await res.text();
    }
  }

  it("counts each finished request in its log2 shape bucket on /metrics and in Redis, by the engine's usage", async () => {
    await send(60, 60, 4); // 120 prompt tokens, 60 completion tokens: bucket 7-6
    await send(60, 60, 2, true);
    const text = await (await fetch(`${router.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`aibrix_router_workload_requests_total{model="${MODEL}"`));
    expect(line, text.slice(0, 2000)).to.match(/bucket="7-6"\} 6$/);
    const raw = new Redis(redis.url);
    try {
      const total = async () => {
        const keys = await raw.keys(`${traceKeyPrefix(MODEL)}*`);
        return (await raw.mget(keys)).reduce((s, t) => s + ((JSON.parse(t!) as { "7:6"?: number })["7:6"] ?? 0), 0);
      };
      await signal.flush();
      expect(await total()).to.equal(6);
    } finally {
      raw.disconnect();
    }
  });

  it("the optimizer sizes the model from the router's /metrics: long prompts move the load to the big type", async () => {
    const opt = await startOptimizer({
      profiles: PROFILES,
      deployments: [deployment("m-small", "small"), deployment("m-big", "big")],
      signal: new RouterMetricsSource([router.url]),
      intervalSeconds: 10,
      autoTick: false,
      log: () => {},
    });
    try {
      const units = async (name: string) =>
        Number(/} (\d+)/.exec(await (await fetch(`${opt.url}/metrics/default/${name}`)).text())![1]);
      const t0 = Math.floor(Date.now() / 1000);
      // Published as whole replicas × 100 (what each type's PodAutoscaler runs), never a fraction it would round up.
      await send(60, 60, 10); // 10 short requests in 10 s = 1 req/s of 128×64: the small type (4 req/s) is cheaper per request
      await opt.tick(t0 + 10);
      expect(await units("m-small")).to.equal(100);
      expect(await units("m-big")).to.equal(0);
      await send(2000, 60, 10); // 4000-token prompts (bucket 12-6): only the big type serves them
      await opt.tick(t0 + 20);
      // One big replica (5 req/s) must run for the long ones and has room for the window's short ones too, so a small
      // replica beside it would be paid for and idle.
      expect(await units("m-big")).to.equal(100);
      expect(await units("m-small")).to.equal(0);
      const status = (await (await fetch(`${opt.url}/status`)).json()) as { models: { plan: { coverage: number } }[] };
      expect(status.models[0]!.plan.coverage).to.equal(1);
    } finally {
      await opt.close();
    }
  });

  it("the optimizer reads the same counts from upstream's Redis trace keys", async () => {
    const raw = new Redis(redis.url);
    const source = new RedisTraceSource(raw, 240);
    try {
      await signal.flush();
      const points = (await source.poll([MODEL], Math.floor(Date.now() / 1000) + 5)).get(MODEL)!;
      const total = points.reduce((s, p) => s + Object.values(p.counts).reduce((a, b) => a + b, 0), 0);
      expect(total).to.equal(6 + 20);
      expect(points.some((p) => (p.counts["7-6"] ?? 0) > 0)).to.equal(true);
      expect(points.some((p) => Object.keys(p.counts).some((k) => k.startsWith("12-")))).to.equal(true);
      expect((await source.poll([MODEL], Math.floor(Date.now() / 1000) + 5)).get(MODEL)).to.deep.equal([]);
    } finally {
      await source.close();
    }
  });
});
