// Fairness on a saturated fleet: one heavy user sending 10× the request rate of each of three light users, through
// the real router in front of a simulated engine whose capacity is the bottleneck. The same workload runs three times
// in one run — FCFS (arrival order), VTC (virtual token counter), and VTC on two router replicas that share counters
// and the engine's concurrency through Redis — and we compare the light users' share of service and their latency.
//
// Offered load is 2× the measured capacity, split 10:1:1:1. A light user asks for 1/6.5 of capacity, less than a fair
// quarter, so under VTC each light user should get all it asks for (share of service ≈ 3/6.5 ≈ 0.46 for the three
// together) while FCFS hands out service in proportion to arrivals (≈ 3/13 ≈ 0.23). `light_user_share_ideal_vtc` is
// that target computed from what was actually offered and served in the run.
import { setMaxListeners } from "node:events";
import { pino } from "pino";
import { Pool } from "undici";
import type { TopLevelSpec } from "vega-lite";
import { createFlowControl } from "../../router/flow-control/index.js";
import { StaticDiscovery } from "../../router/discovery/static.js";
import { startRouter, type Router } from "../../router/server.js";
import { startSimulator, type RunningSimulator } from "../../simulator/index.js";
import { startRedis } from "../../test/support/redis-server.js";
import type { Benchmark, BenchContext, BenchResult } from "../lib/result.js";

const MODEL = "fair-model";
const SLOTS = 8;
const MAX_TOKENS = 64;
const USERS = ["heavy", "light-1", "light-2", "light-3"] as const;
const WEIGHT: Record<(typeof USERS)[number], number> = { heavy: 10, "light-1": 1, "light-2": 1, "light-3": 1 };

interface Done {
  user: string;
  sentAt: number;
  latencyMs: number;
  status: number;
}

type Variant = "fcfs" | "vtc" | "vtc_2_replicas";
const LABEL: Record<Variant, string> = { fcfs: "FCFS", vtc: "VTC", vtc_2_replicas: "VTC, 2 replicas + Redis" };

interface Front {
  routers: Router[];
  /** Per user, one pool per router replica; request i of a user goes to replica i mod n. */
  pools: Map<string, Pool[]>;
  close(): Promise<void>;
}

async function frontFor(sim: RunningSimulator, variant: Variant, redisUrl?: string): Promise<Front> {
  const logger = pino({ level: "silent" });
  const replicas = variant === "vtc_2_replicas" ? 2 : 1;
  const routers: Router[] = [];
  for (let i = 0; i < replicas; i++) {
    const flowControl = await createFlowControl({
      logger,
      ...(variant === "vtc_2_replicas" ? { redisUrl, keyPrefix: `fair-${Date.now()}:` } : {}),
      limits: { models: { [MODEL]: { concurrency: SLOTS } } },
      fairness: { policy: variant === "fcfs" ? "fcfs" : "vtc", maxWaitMs: 120_000, retryMs: 5 },
    });
    routers.push(
      await startRouter({
        port: 0,
        discovery: new StaticDiscovery([
          { id: `${sim.host}:${sim.port}`, host: sim.host, port: sim.port, model: MODEL, adapters: [], engine: "vllm" },
        ]),
        flowControl: flowControl.control,
        logger,
        accessLog: false,
      }),
    );
  }
  // One pool per user with room for every outstanding request: requests must wait in the router's queue, not in a
  // client-side FIFO that would hide the policy under test.
  const pools = new Map<string, Pool[]>();
  for (const u of [...USERS, "calibrate"])
    pools.set(
      u,
      routers.map((r) => new Pool(r.url, { connections: 4096 })),
    );
  return {
    routers,
    pools,
    async close() {
      for (const r of routers) await r.close();
      await Promise.all([...pools.values()].flat().map((p) => p.destroy()));
    },
  };
}

async function call(pool: Pool, user: string, i: number, signal?: AbortSignal): Promise<Done> {
  const sentAt = performance.now();
  try {
    const res = await pool.request({
      signal,
      path: "/v1/chat/completions",
      method: "POST",
      headers: { "content-type": "application/json", user },
      body: JSON.stringify({
        model: MODEL,
        messages: [
          { role: "user", content: `${user} asks question ${i}: explain the difference between the two plans` },
        ],
        max_tokens: MAX_TOKENS,
      }),
    });
    await res.body.text();
    return { user, sentAt, latencyMs: performance.now() - sentAt, status: res.statusCode };
  } catch {
    return { user, sentAt, latencyMs: performance.now() - sentAt, status: -1 };
  }
}

/** Completions per second with SLOTS requests always in flight. */
async function capacity(pool: Pool, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: SLOTS }, async (_, w) => {
      while (performance.now() < end) {
        const d = await call(pool, "calibrate", w * 100_000 + n);
        if (d.status === 200) n++;
      }
    }),
  );
  return n / (ms / 1000);
}

/** Offered load for `ms`, then whatever is still waiting is abandoned (the backlog is not part of the measure). */
async function workload(
  pools: Map<string, Pool[]>,
  unitRps: number,
  ms: number,
): Promise<{ done: Done[]; t0: number }> {
  const t0 = performance.now();
  const stop = new AbortController();
  setMaxListeners(Infinity, stop.signal); // one listener per outstanding request
  const all: Array<Promise<Done>> = [];
  const sent = new Map<string, number>(USERS.map((u) => [u, 0]));
  while (performance.now() - t0 < ms) {
    const elapsed = (performance.now() - t0) / 1000;
    for (const u of USERS) {
      const due = Math.floor(elapsed * unitRps * WEIGHT[u]);
      while (sent.get(u)! < due) {
        const i = sent.get(u)!;
        sent.set(u, i + 1);
        const replicas = pools.get(u)!;
        all.push(call(replicas[i % replicas.length]!, u, i, stop.signal));
      }
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  stop.abort();
  return { done: await Promise.all(all), t0 };
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function run(ctx: BenchContext): Promise<Omit<BenchResult, "name" | "date" | "machine">> {
  const durationMs = ctx.quick ? 10_000 : 30_000;
  const sim = await startSimulator({ model: MODEL, speedup: 2, maxNumSeqs: SLOTS });
  const redis = await startRedis();
  const summary: Record<string, number> = {};
  const perSecond: Array<{ policy: string; t: number; user: string; completed: number }> = [];
  const latency: Record<string, unknown> = {};
  let unitRps = 0;
  let cap = 0;
  try {
    for (const policy of ["fcfs", "vtc", "vtc_2_replicas"] as const) {
      const front = await frontFor(sim, policy, redis.url);
      const pools = front.pools;
      try {
        if (policy === "fcfs") {
          cap = await capacity(pools.get("calibrate")![0]!, ctx.quick ? 2000 : 4000);
          unitRps = (2 * cap) / 13; // offered = 2 × capacity, split 10:1:1:1
          ctx.progress(
            `capacity ${cap.toFixed(1)} req/s; heavy ${(10 * unitRps).toFixed(1)} req/s, light ${unitRps.toFixed(1)} req/s each`,
          );
        }
        ctx.progress(`${policy}: ${durationMs / 1000}s`);
        const { done, t0 } = await workload(pools, unitRps, durationMs);
        // Service = completions during the offered-load period (the backlog drained afterwards is not counted).
        const served = done.filter((d) => d.status === 200 && d.sentAt + d.latencyMs - t0 <= durationMs);
        const light = served.filter((d) => d.user !== "heavy");
        summary[`light_user_share_${policy}`] = round(light.length / Math.max(1, served.length));
        // Latency of what was served; requests still waiting at the end are counted as waiting the whole remainder.
        const waited = (d: Done) =>
          d.status === 200 ? d.latencyMs : Math.max(d.latencyMs, durationMs - (d.sentAt - t0));
        const lightLat = done.filter((d) => d.user !== "heavy").map(waited);
        const heavyLat = done.filter((d) => d.user === "heavy").map(waited);
        summary[`light_latency_p50_ms_${policy}`] = round(pct(lightLat, 50));
        summary[`light_latency_p90_ms_${policy}`] = round(pct(lightLat, 90));
        summary[`heavy_latency_p50_ms_${policy}`] = round(pct(heavyLat, 50));
        const lightOffered = done.filter((d) => d.user !== "heavy" && d.sentAt - t0 <= durationMs).length;
        summary[`light_demand_met_${policy}`] = round(light.length / Math.max(1, lightOffered));
        // The VTC target: light users below a fair quarter get everything they ask for.
        summary[`light_user_share_ideal_${policy}`] = round(
          Math.min(lightOffered, (3 / 4) * served.length) / Math.max(1, served.length),
        );
        summary[`unfinished_${policy}`] = done.filter((d) => d.status !== 200).length;
        latency[policy] = { light: lightLat.length, heavy: heavyLat.length };
        const bins = new Map<string, number>();
        for (const d of served) {
          const t = Math.floor((d.sentAt + d.latencyMs - t0) / 1000);
          const key = `${t}|${d.user === "heavy" ? "heavy" : "light (3 users)"}`;
          bins.set(key, (bins.get(key) ?? 0) + 1);
        }
        for (const [k, v] of bins) {
          const [t, user] = k.split("|");
          perSecond.push({ policy: LABEL[policy], t: Number(t), user: user!, completed: v });
        }
      } finally {
        await front.close();
      }
    }
  } finally {
    await sim.close();
    await redis.stop();
  }
  summary.capacity_rps = round(cap);
  summary.vtc_over_fcfs_light_share = round(
    summary.light_user_share_vtc! / Math.max(1e-9, summary.light_user_share_fcfs!),
  );
  return {
    params: {
      durationMs,
      slots: SLOTS,
      maxTokens: MAX_TOKENS,
      weights: WEIGHT,
      offeredOverCapacity: 2,
      unitRps,
      quick: ctx.quick,
    },
    summary,
    series: { completed_per_second: perSecond, samples: latency },
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function plot(result: BenchResult): TopLevelSpec {
  const s = result.summary;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: `Service on a saturated engine, heavy user at 10× each light user: light share FCFS ${s.light_user_share_fcfs}, VTC ${s.light_user_share_vtc}`,
    data: { values: result.series.completed_per_second as unknown[] },
    mark: { type: "area" },
    encoding: {
      x: { field: "t", type: "quantitative", title: "seconds" },
      y: { field: "completed", type: "quantitative", stack: "normalize", title: "share of completions" },
      color: { field: "user", type: "nominal" },
      column: { field: "policy", type: "nominal", title: null },
    },
    width: 300,
    height: 240,
  } as TopLevelSpec;
}

const bench: Benchmark = { run, plot };
export default bench;
