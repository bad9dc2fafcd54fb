// One sweep: a fresh router, cold engine caches, then each offered rate of a workload in ascending order on them (warm-up,
// measured window, drain), with the router's and the load generator's CPU and the fleet's prefix-cache hits per point.
import os from "node:os";
import { parseEngineMetrics } from "../../engines/metric-names.js";
import { percentile, round } from "../router-common/loadgen.js";
import { withoutKvEvents } from "../router-common/fleet-views.js";
import {
  cpuSeconds,
  startEngines,
  startOurRouter,
  startPeer,
  type EngineFleet,
  type Proc,
} from "../router-common/processes.js";
import type { TokenText } from "../lib/token-text.js";
import { runPoint, type Outcome } from "./drive.js";
import { FLEET, type RouterPlan, type WorkloadPlan } from "./plan.js";
import { planRequests } from "./workloads.js";

export const MODEL = "llama-3-8b";

/** One point of one sweep: a router, a workload, an offered rate, a round. Times simulated unless named wall. */
export interface PointStats {
  workload: string;
  router: string;
  round: number;
  rate: number;
  /** Requests sent in the measured window (conversation turns included), and how many failed. */
  requests: number;
  errors: number;
  ttft_p50_s: number;
  ttft_p90_s: number;
  ttft_p99_s: number;
  /** TTFT p90 of each kind of request in the window (shared prefix, unique, conversation turn): which make the tail. */
  ttft_p90_s_by_kind?: Partial<Record<Outcome["kind"], number>>;
  /** Mean time between output tokens over the window's requests, ms. */
  itl_ms: number;
  /** Output tokens of the window's requests per measured second. */
  output_tok_s: number;
  /** Fleet prefix-cache hits over queries (tokens) from the warm-up's end to the last answer. */
  prefix_hit_rate: number;
  /** Router process CPU (user + system, all threads) over the whole point, per request sent in it; 0 for none. */
  router_cpu_ms_per_req: number;
  /** That CPU over the point's wall-clock time: 1 is one core kept busy. */
  router_cpu_share: number;
  /** The same for the load generator (this process) and for the engine process. */
  loadgen_cpu_share: number;
  engines_cpu_share: number;
  wall_s: number;
  load_average_1m: number;
}

async function fleetPrefixCounts(fleet: EngineFleet): Promise<{ hits: number; queries: number }> {
  let hits = 0;
  let queries = 0;
  for (const e of fleet.endpoints) {
    const m = parseEngineMetrics(await (await fetch(`http://${e.address}/metrics`)).text(), "vllm");
    hits += m.prefixCacheHits ?? 0;
    queries += m.prefixCacheQueries ?? 0;
  }
  return { hits, queries };
}

async function startRouter(r: RouterPlan, fleet: EngineFleet): Promise<Proc> {
  if ("peer" in r) return startPeer(r.peer, fleet, MODEL, r.policy);
  return startOurRouter(r.needsKvEvents ? fleet : await withoutKvEvents(fleet), MODEL, r.ours, r.config);
}

const pct = (xs: number[], p: number) => round(percentile(xs, p), 4);

export function windowStats(outcomes: readonly Outcome[], from: number, seconds: number) {
  const inWindow = outcomes.filter((o) => o.sentAt >= from && o.sentAt < from + seconds);
  const ok = inWindow.filter((o) => o.ok);
  const ttfts = ok.map((o) => o.ttft);
  const itls = ok.filter((o) => o.tokens > 1).map((o) => ((o.e2e - o.ttft) / (o.tokens - 1)) * 1000);
  return {
    requests: inWindow.length,
    errors: inWindow.length - ok.length,
    ttft_p50_s: pct(ttfts, 50),
    ttft_p90_s: pct(ttfts, 90),
    ttft_p99_s: pct(ttfts, 99),
    ttft_p90_s_by_kind: p90ByKind(ok),
    itl_ms: round(itls.reduce((a, b) => a + b, 0) / Math.max(1, itls.length), 3),
    output_tok_s: round(ok.reduce((n, o) => n + o.tokens, 0) / seconds, 1),
  };
}

function p90ByKind(ok: readonly Outcome[]): Partial<Record<Outcome["kind"], number>> {
  const byKind: Partial<Record<Outcome["kind"], number[]>> = {};
  for (const o of ok) (byKind[o.kind] ??= []).push(o.ttft);
  const out: Partial<Record<Outcome["kind"], number>> = {};
  for (const [kind, ttfts] of Object.entries(byKind) as [Outcome["kind"], number[]][]) out[kind] = pct(ttfts, 90);
  return out;
}

export interface SweepSpec {
  workload: WorkloadPlan;
  router: RouterPlan;
  round: number;
  rates: readonly number[];
  speedup: number;
  measuredSeconds: number;
  warmupSeconds: (pointIndex: number) => number;
  /** Same for every router of a round, so they see the same requests. */
  seed: (pointIndex: number) => number;
  /** Workload text in the engines' tokens. */
  text: TokenText;
  progress: (message: string) => void;
}

/**
 * The engine fleet every sweep runs on: started once (a fresh start per sweep costs more wall-clock time than a
 * point), its prefix caches cleared before each sweep (`resetFleet`). Every engine publishes KV events; routers
 * without that input are given an endpoint file that leaves them out.
 */
export function startFleet(speedup: number): Promise<EngineFleet> {
  return startEngines({
    model: MODEL,
    replicas: FLEET.replicas,
    speedup,
    calibration: FLEET.calibration,
    kvEvents: true,
    extra: ["--num-gpu-blocks", String(FLEET.numGpuBlocks)],
  });
}

/** Clears every engine's prefix cache (vLLM's /reset_prefix_cache), waiting for requests still holding blocks. */
async function resetFleet(fleet: EngineFleet): Promise<void> {
  for (const e of fleet.endpoints) {
    for (let attempt = 0; ; attempt++) {
      const r = await fetch(`http://${e.address}/reset_prefix_cache`, { method: "POST" });
      await r.text();
      if (r.ok) break;
      if (attempt >= 100)
        throw new Error(`engine ${e.address} still busy after 10 s: its prefix cache was not cleared`);
      await new Promise((done) => setTimeout(done, 100));
    }
  }
}

/** A few requests through a new router (its first requests load code and open connections), then cold caches. */
async function warmRouter(router: Proc, fleet: EngineFleet): Promise<void> {
  for (let i = 0; i < 4; i++) {
    const r = await fetch(`${router.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: `warm-up ${i}`, max_tokens: 2, stream: true }),
    });
    await r.text();
  }
  await resetFleet(fleet);
}

/** Runs one sweep on `fleet` with a fresh router, stopped whatever happens. */
export async function runSweep(s: SweepSpec, fleet: EngineFleet): Promise<PointStats[]> {
  const out: PointStats[] = [];
  const router = await startRouter(s.router, fleet);
  try {
    await warmRouter(router, fleet);
    for (let i = 0; i < s.rates.length; i++) out.push(await runOnePoint(s, i, fleet, router));
  } finally {
    await router.stop().catch(() => undefined);
  }
  return out;
}

async function runOnePoint(s: SweepSpec, i: number, fleet: EngineFleet, router: Proc): Promise<PointStats> {
  const rate = s.rates[i]!;
  const warmup = s.warmupSeconds(i);
  const plan = planRequests(MODEL, s.workload, rate, warmup + s.measuredSeconds, s.seed(i), s.text);
  const before = { router: cpuSeconds(router), engines: cpuSeconds(fleet.proc), self: process.cpuUsage() };
  let atWarm = { hits: 0, queries: 0 };
  const { outcomes, wallSeconds } = await runPoint(router.url, plan, s.speedup, s.text, {
    seconds: warmup,
    run: async () => {
      atWarm = await fleetPrefixCounts(fleet);
    },
  });
  const end = await fleetPrefixCounts(fleet);
  const self = process.cpuUsage(before.self);
  const routerCpu = cpuSeconds(router) - before.router;
  const stats: PointStats = {
    workload: s.workload.name,
    router: s.router.name,
    round: s.round,
    rate,
    ...windowStats(outcomes, warmup, s.measuredSeconds),
    prefix_hit_rate: round((end.hits - atWarm.hits) / Math.max(1, end.queries - atWarm.queries), 4),
    router_cpu_ms_per_req: round((routerCpu * 1000) / Math.max(1, outcomes.length), 3),
    router_cpu_share: round(routerCpu / wallSeconds, 3),
    loadgen_cpu_share: round((self.user + self.system) / 1e6 / wallSeconds, 3),
    engines_cpu_share: round((cpuSeconds(fleet.proc) - before.engines) / wallSeconds, 3),
    wall_s: round(wallSeconds, 1),
    load_average_1m: round(os.loadavg()[0]!, 2),
  };
  s.progress(
    `${s.workload.name} · ${s.router.name} · round ${s.round} · ${rate}/s: TTFT p90 ${stats.ttft_p90_s} s, ` +
      `hits ${stats.prefix_hit_rate}, errors ${stats.errors}/${stats.requests}, router CPU ${stats.router_cpu_share} core, ` +
      `load generator ${stats.loadgen_cpu_share}, engines ${stats.engines_cpu_share}, load ${stats.load_average_1m}`,
  );
  return stats;
}
