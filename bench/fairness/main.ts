// Fairness on a saturated fleet, through the real router in front of a simulated engine whose capacity is the
// bottleneck. Four workloads fixed in scenarios.ts — unequal request rates, mixed prompt/output lengths, an on/off
// client, and overload — each run side by side under FCFS (arrival order), VTC (virtual token counter) and static
// per-user RPM limits at a fair share of capacity; the unequal-rates workload also under VTC on two router replicas
// sharing counters and the engine's concurrency through Redis.
//
// Every client streams, so service is counted as VTC counts it, as it arrives (scenarios.ts): each user's share, Jain's
// index over backlogged users, and the largest service difference between two backlogged users over any interval, in
// units of VTC's U for a batching engine (scenarios.ts): VTC's guarantee is ≤ 2 U; FCFS and static limits have none.
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
import { runRounds, type Round } from "../lib/rounds.js";
import { medianOfRounds } from "../lib/stats.js";
import {
  INPUT_WEIGHT,
  jainIndex,
  onSpans,
  OUTPUT_WEIGHT,
  SCENARIOS,
  serviceByUser,
  serviceDifference,
  serviceEvents,
  type Scenario,
  type Served,
  type UserLoad,
  vtcUnit,
} from "./scenarios.js";

const MODEL = "fair-model";
const SLOTS = 8;
/** Per-user RPM limits count over this window (the full minute would not refill within a run). */
const RPM_WINDOW_MS = 10_000;
/** Each round runs every scenario under every policy; figures are medians over rounds. */
const ROUNDS = 3;

type Policy = "fcfs" | "vtc" | "rpm" | "vtc_2_replicas";
const LABEL: Record<Policy, string> = {
  fcfs: "FCFS",
  vtc: "VTC",
  rpm: "per-user RPM limits",
  vtc_2_replicas: "VTC, 2 replicas + Redis",
};

interface Front {
  /** Per user, one pool per router replica; request i of a user goes to replica i mod n. */
  pools: Map<string, Pool[]>;
  close(): Promise<void>;
}

/** Router replicas for a policy; `rpmPerWindow` is each user's limit under the `rpm` policy. */
async function frontFor(
  sim: RunningSimulator,
  policy: Policy,
  users: readonly string[],
  redisUrl: string,
  rpmPerWindow: number,
): Promise<Front> {
  const logger = pino({ level: "silent" });
  const replicas = policy === "vtc_2_replicas" ? 2 : 1;
  const routers: Router[] = [];
  for (let i = 0; i < replicas; i++) {
    const flowControl = await createFlowControl({
      logger,
      ...(policy === "vtc_2_replicas" ? { redisUrl, keyPrefix: `fair-${Date.now()}:` } : {}),
      limits: { models: { [MODEL]: { concurrency: SLOTS } }, userWindowMs: RPM_WINDOW_MS },
      fairness: {
        policy: policy === "vtc" || policy === "vtc_2_replicas" ? "vtc" : "fcfs",
        maxWaitMs: 120_000,
        retryMs: 5,
      },
    });
    if (policy === "rpm")
      for (const name of users) await flowControl.users.put({ name, rpm: rpmPerWindow, tpm: null, keys: [] });
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
  for (const u of users)
    pools.set(
      u,
      routers.map((r) => new Pool(r.url, { connections: 4096 })),
    );
  return {
    pools,
    async close() {
      for (const r of routers) await r.close();
      await Promise.all([...pools.values()].flat().map((p) => p.destroy()));
    },
  };
}

const FILLER = "the committee reviewed each section of the annual plan and noted where costs could fall".split(" ");

function prompt(load: UserLoad, i: number): string {
  const words = Array.from({ length: load.promptWords }, (_, k) => FILLER[(i + k) % FILLER.length]).join(" ");
  return `${load.user} asks question ${i}: ${words} explain the difference between the two plans`;
}

/** One streamed request; records when each text chunk arrived and the usage the engine reported. */
async function call(pool: Pool, load: UserLoad, i: number, t0: number, signal?: AbortSignal): Promise<Served> {
  const sentAt = performance.now() - t0;
  const out: Served = {
    user: load.user,
    sentAt,
    status: -1,
    latencyMs: 0,
    promptTokens: 0,
    chunkTimes: [],
    completionTokens: 0,
  };
  try {
    const res = await pool.request({
      signal,
      path: "/v1/chat/completions",
      method: "POST",
      headers: { "content-type": "application/json", user: load.user },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: "user", content: prompt(load, i) }],
        max_tokens: load.maxTokens,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    out.status = res.statusCode;
    let pending = "";
    for await (const chunk of res.body) {
      pending += (chunk as Buffer).toString();
      let cut: number;
      while ((cut = pending.indexOf("\n\n")) >= 0) {
        const event = pending.slice(0, cut).trim();
        pending = pending.slice(cut + 2);
        if (!event.startsWith("data:") || event === "data: [DONE]") continue;
        const data = JSON.parse(event.slice(5)) as {
          choices?: { delta?: { content?: string } }[];
          usage?: { prompt_tokens: number; completion_tokens: number } | null;
        };
        if (data.choices?.[0]?.delta?.content) out.chunkTimes.push(performance.now() - t0);
        if (data.usage) {
          out.promptTokens = data.usage.prompt_tokens;
          out.completionTokens = data.usage.completion_tokens;
        }
      }
    }
  } catch {
    if (out.status === 200) out.status = -1; // cut off mid-stream
  }
  out.latencyMs = performance.now() - t0 - sentAt;
  return out;
}

/** Completions per second of the calibration shape with SLOTS requests always in flight. */
async function capacity(pool: Pool, ms: number): Promise<number> {
  const load: UserLoad = { user: "calibrate", rateOfCapacity: 0, promptWords: 0, maxTokens: 64, backlogged: true };
  const t0 = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: SLOTS }, async (_, w) => {
      while (performance.now() - t0 < ms) {
        const d = await call(pool, load, w * 100_000 + n, t0);
        if (d.status === 200) n++;
      }
    }),
  );
  return n / (ms / 1000);
}

/** Offered load for `ms`, then whatever is still waiting is abandoned (the backlog is not part of the measure). */
async function workload(front: Front, scenario: Scenario, capacityRps: number, ms: number): Promise<Served[]> {
  const t0 = performance.now();
  const stop = new AbortController();
  setMaxListeners(Infinity, stop.signal); // one listener per outstanding request
  const all: Array<Promise<Served>> = [];
  const sent = new Map<string, number>();
  const owed = new Map<string, number>(); // arrivals due so far, counting on-time only
  let last = 0;
  while (performance.now() - t0 < ms) {
    const now = performance.now() - t0;
    for (const load of scenario.users) {
      const on = !load.onOff || now % load.onOff.periodMs < load.onOff.onMs;
      if (on)
        owed.set(load.user, (owed.get(load.user) ?? 0) + ((now - last) / 1000) * load.rateOfCapacity * capacityRps);
      while ((sent.get(load.user) ?? 0) < Math.floor(owed.get(load.user) ?? 0)) {
        const i = sent.get(load.user) ?? 0;
        sent.set(load.user, i + 1);
        const replicas = front.pools.get(load.user)!;
        all.push(call(replicas[i % replicas.length]!, load, i, t0, stop.signal));
      }
    }
    last = now;
    await new Promise((r) => setTimeout(r, 2));
  }
  stop.abort();
  return Promise.all(all);
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The run's figures for one scenario under one policy, keyed `<scenario>_<figure>_<policy>`. */
function analyse(scenario: Scenario, policy: Policy, done: Served[], durationMs: number): Record<string, number> {
  const key = (figure: string) => `${scenario.name}_${figure}_${policy}`;
  const events = serviceEvents(done);
  const u = vtcUnit(done, SLOTS);
  const byUser = serviceByUser(events, 0, durationMs);
  const total = [...byUser.values()].reduce((s, x) => s + x, 0);
  const out: Record<string, number> = {};
  for (const load of scenario.users)
    out[key(`share_${load.user.replace(/-/g, "_")}`)] = round((byUser.get(load.user) ?? 0) / Math.max(1, total));
  // VTC's bound holds between backlogged users: each always-backlogged pair over the whole run, an on/off user only
  // inside its on spans. Jain's index over the backlogged users (those asking less than a fair share should get it all).
  const backlogged = scenario.users.filter((l) => l.backlogged);
  if (backlogged.length > 1) {
    let worst = 0;
    for (let i = 0; i < backlogged.length; i++)
      for (let j = i + 1; j < backlogged.length; j++) {
        const [a, b] = [backlogged[i]!, backlogged[j]!];
        const onOff = a.onOff ?? b.onOff;
        for (const [from, to] of onOff ? onSpans(onOff, durationMs) : [[0, durationMs] as [number, number]])
          worst = Math.max(worst, serviceDifference(events, a.user, b.user, from, to));
      }
    out[key("max_difference_u")] = round(worst / Math.max(1, u));
    out[key("jain")] = round(jainIndex(backlogged.map((l) => byUser.get(l.user) ?? 0)));
  }
  // Whether the run was overloaded at all: a run that was not says nothing about the policy.
  const offered = done.filter((d) => d.sentAt < durationMs).length;
  const completed = done.filter((d) => d.status === 200 && d.sentAt + d.latencyMs < durationMs).length;
  out[key("offered_over_served")] = round(offered / Math.max(1, completed));
  const waited = (d: Served) => (d.status === 200 ? d.latencyMs : Math.max(d.latencyMs, durationMs - d.sentAt));
  for (const load of scenario.users)
    out[key(`latency_p90_ms_${load.user.replace(/-/g, "_")}`)] = round(
      pct(done.filter((d) => d.user === load.user).map(waited), 90),
    );
  out[key("refused")] = done.filter((d) => d.status === 429).length;
  if (scenario.name === "unequal_rates") {
    // Under the earlier result's name, so runs stay comparable.
    out[`light_latency_p90_ms_${policy}`] = round(pct(done.filter((d) => d.user !== "heavy").map(waited), 90));
  }
  return out;
}

type PerSecond = { scenario: string; policy: string; t: number; user: string; service: number };

interface RoundMeasure {
  summary: Record<string, number>;
  perSecond: PerSecond[];
}

/** Every scenario under every policy once, on the shared engine and Redis: one round's figures and service series. */
async function measureRound(
  ctx: BenchContext,
  sim: RunningSimulator,
  redisUrl: string,
  capacityRps: number,
  durationMs: number,
): Promise<RoundMeasure> {
  const summary: Record<string, number> = {};
  const perSecond: PerSecond[] = [];
  for (const scenario of SCENARIOS) {
    const users = scenario.users.map((l) => l.user);
    // A fair share of capacity in requests, per RPM window (the static alternative to a fair queue).
    const rpmPerWindow = Math.max(1, Math.round((capacityRps * (RPM_WINDOW_MS / 1000)) / users.length));
    const policies: Policy[] =
      scenario.name === "unequal_rates" ? ["fcfs", "vtc", "rpm", "vtc_2_replicas"] : ["fcfs", "vtc", "rpm"];
    for (const policy of policies) {
      ctx.progress(`${scenario.name}, ${LABEL[policy]}: ${durationMs / 1000}s`);
      const front = await frontFor(sim, policy, users, redisUrl, rpmPerWindow);
      try {
        const done = await workload(front, scenario, capacityRps, durationMs);
        Object.assign(summary, analyse(scenario, policy, done, durationMs));
        for (const e of serviceEvents(done)) {
          if (e.at >= durationMs) continue;
          perSecond.push({
            scenario: scenario.name,
            policy: LABEL[policy],
            t: Math.floor(e.at / 1000),
            user: e.user,
            service: e.amount,
          });
        }
      } finally {
        await front.close();
      }
    }
  }
  Object.assign(summary, headlineFigures(summary));
  return { summary, perSecond };
}

/** Figures drawn from one round's per-scenario figures. */
function headlineFigures(summary: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  // The unequal-rates figures under their earlier names, so results stay comparable across runs.
  for (const policy of ["fcfs", "vtc", "vtc_2_replicas", "rpm"] as const) {
    const light = ["light_1", "light_2", "light_3"].reduce(
      (s, u) => s + (summary[`unequal_rates_share_${u}_${policy}`] ?? 0),
      0,
    );
    out[`light_user_share_${policy}`] = round(light);
  }
  // Light users asking for less than a fair quarter each get all they ask for under VTC: their offered rate over what
  // the engine actually served in the VTC run (offered ÷ offered-over-served), each capped at a quarter. The served
  // rate, not the calibrated capacity, is the denominator: under overload the fleet may serve less than calibrated.
  const users = SCENARIOS[0]!.users;
  const offered = users.reduce((a, l) => a + l.rateOfCapacity, 0);
  const offeredOverServed = summary.unequal_rates_offered_over_served_vtc ?? NaN;
  const fair = 1 / users.length;
  out.light_user_share_ideal_vtc = round(
    users
      .filter((l) => l.user !== "heavy")
      .reduce((a, l) => a + Math.min((l.rateOfCapacity / offered) * offeredOverServed, fair), 0),
  );
  out.served_over_capacity_vtc = round(offered / offeredOverServed);
  out.vtc_over_fcfs_light_share = round(out.light_user_share_vtc! / Math.max(1e-9, out.light_user_share_fcfs!));
  out.vtc_max_difference_u_worst = Math.max(...SCENARIOS.map((s) => summary[`${s.name}_max_difference_u_vtc`] ?? 0));
  return out;
}

/** Figures whose spread over rounds the result reports beside the median. */
const SPREAD_KEYS = [
  "vtc_max_difference_u_worst",
  "light_user_share_vtc",
  "light_user_share_fcfs",
  "light_user_share_rpm",
  "mixed_lengths_max_difference_u_vtc",
  "overload_jain_vtc",
  "light_latency_p90_ms_vtc",
];

async function run(ctx: BenchContext): Promise<Omit<BenchResult, "name" | "date" | "machine">> {
  const durationMs = ctx.quick ? 10_000 : 30_000;
  const roundCount = ctx.quick ? 1 : ROUNDS;
  const sim = await startSimulator({ model: MODEL, speedup: 2, maxNumSeqs: SLOTS });
  const redis = await startRedis();
  let rounds: Round<RoundMeasure>[];
  let capacityRps: number;
  try {
    const calibration = await frontFor(sim, "fcfs", ["calibrate"], redis.url, 0);
    try {
      capacityRps = await capacity(calibration.pools.get("calibrate")![0]!, ctx.quick ? 2000 : 4000);
    } finally {
      await calibration.close();
    }
    ctx.progress(`capacity ${capacityRps.toFixed(1)} req/s (one-line prompt, 64 tokens out)`);
    const rate = capacityRps;
    rounds = await runRounds(ctx, roundCount, () => measureRound(ctx, sim, redis.url, rate, durationMs));
  } finally {
    await sim.close();
    await redis.stop();
  }
  const summary = medianOfRounds(
    rounds.map((r) => r.figures.summary),
    SPREAD_KEYS,
  );
  summary.capacity_rps = round(capacityRps);
  summary.rounds = rounds.length;
  return {
    params: {
      durationMs,
      rounds: rounds.length,
      slots: SLOTS,
      weights: { input: INPUT_WEIGHT, output: OUTPUT_WEIGHT },
      scenarios: SCENARIOS.map((s) => ({ name: s.name, title: s.title, users: s.users })),
      rpmWindowMs: RPM_WINDOW_MS,
      rpmPolicy: "each user limited to capacity ÷ users requests per RPM window, FCFS among what is admitted",
      quick: ctx.quick,
    },
    summary,
    // The plot shows the first round; every round's figures and load are kept.
    series: {
      service_per_second: aggregate(rounds[0]!.figures.perSecond),
      rounds: rounds.map((r) => ({ round: r.round, load1m: r.load1m, summary: r.figures.summary })),
    },
  };
}

/** Service per (scenario, policy, second, user), summed. */
function aggregate(rows: readonly PerSecond[]) {
  const sums = new Map<string, PerSecond>();
  for (const r of rows) {
    const k = `${r.scenario}|${r.policy}|${r.t}|${r.user}`;
    const s = sums.get(k);
    if (s) s.service += r.service;
    else sums.set(k, { ...r });
  }
  return [...sums.values()].map((r) => ({ ...r, service: Math.round(r.service) }));
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function plot(result: BenchResult): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: "Share of service (VTC-weighted tokens) per second, by workload and policy",
    data: { values: result.series.service_per_second as unknown[] },
    mark: { type: "area" },
    encoding: {
      x: { field: "t", type: "quantitative", title: "seconds" },
      y: { field: "service", type: "quantitative", stack: "normalize", title: "share of service" },
      color: { field: "user", type: "nominal" },
      row: { field: "scenario", type: "nominal", title: null },
      column: { field: "policy", type: "nominal", title: null },
    },
    width: 220,
    height: 140,
  } as TopLevelSpec;
}

const bench: Benchmark = { run, plot };
export default bench;
