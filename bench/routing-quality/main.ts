// Routing quality on simulated H100 8B engines: TTFT p50/p90/p99, ITL, output tok/s and prefix-cache hit rate for
// random, least-request, prefix-cache (approximate), exact-prefix+load (engine KV events) and sglang-router's
// cache-aware policy, on shared-prefix multi-tenant (the summary's workload: engines evict under load), the same with
// room to spare (uncongested), multi-turn chat and random workloads, plus a no-router reference on both shared-prefix
// shapes. Each (workload, router) pair gets a fresh engine fleet (cold caches) and a fresh router process; the
// load generator runs in this process.
//
// Times are simulated (real-hardware-equivalent): wall-clock figures times the simulator speedup.
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { TopLevelSpec } from "vega-lite";
import { Pool } from "undici";
import { parseEngineMetrics } from "../../engines/metric-names.js";
import { defaultPrefixScorerOptions } from "../../router/picking/scorers.js";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { median, spread } from "../lib/stats.js";
import { percentile, round } from "../router-common/loadgen.js";
import {
  cpuSeconds,
  peerUnavailable,
  prioritizeSelf,
  routerSetups,
  startEngines,
  startOurRouter,
  startPeer,
  type EngineFleet,
  type Proc,
} from "../router-common/processes.js";
import {
  multiTurn,
  nextTurn,
  randomPrompts,
  sharedPrefix,
  type MultiTurnShape,
  type PlannedRequest,
  type RandomShape,
  type SharedPrefixShape,
} from "./workloads.js";

const MODEL = "llama-3-8b";

interface Outcome {
  /** Planned send time (simulated seconds after start). */
  at?: number;
  ok: boolean;
  ttft: number;
  e2e: number;
  tokens: number;
  text: string;
  target?: string;
}

interface RunStats {
  workload: string;
  router: string;
  requests: number;
  errors: number;
  ttft_p50_s: number;
  ttft_p90_s: number;
  ttft_p99_s: number;
  itl_ms: number;
  output_tok_s: number;
  prefix_hit_rate: number;
  makespan_s: number;
  /** 1-based; the shared-prefix pair the summary compares runs several rounds. */
  round: number;
  /** Wall-clock CPU seconds the router and the engine process used during the run (not scaled by the speedup). */
  router_cpu_s: number;
  engines_cpu_s: number;
  /** Requests each engine finished. */
  engine_requests: number[];
}

/** One streamed request; times in wall-clock seconds. */
async function stream(pool: Pool, req: PlannedRequest, headers: Record<string, string>): Promise<Outcome> {
  const t0 = performance.now();
  let ttft = 0;
  let text = "";
  let tokens = 0;
  try {
    const res = await pool.request({
      path: req.path,
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ ...req.body, stream: true, stream_options: { include_usage: true } }),
    });
    let buf = "";
    for await (const chunk of res.body) {
      buf += (chunk as Buffer).toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n\n")) !== -1) {
        const ev = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
        const data = JSON.parse(ev.slice(6)) as {
          choices?: { text?: string; delta?: { content?: string } }[];
          usage?: { completion_tokens?: number };
          error?: unknown;
        };
        if (data.error) throw new Error(JSON.stringify(data.error));
        const piece = data.choices?.[0]?.text ?? data.choices?.[0]?.delta?.content;
        if (piece) {
          if (ttft === 0) ttft = (performance.now() - t0) / 1000;
          text += piece;
        }
        if (data.usage?.completion_tokens !== undefined) tokens = data.usage.completion_tokens;
      }
    }
    const target = res.headers["target-pod"];
    return {
      ok: res.statusCode === 200,
      ttft,
      e2e: (performance.now() - t0) / 1000,
      tokens,
      text,
      target: typeof target === "string" ? target : undefined,
    };
  } catch {
    return { ok: false, ttft: 0, e2e: (performance.now() - t0) / 1000, tokens: 0, text: "" };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Sends `plan` in (scaled) real time, each request to `urls[target(req)]` (a router: one URL, every request). */
async function runPlan(
  urls: readonly string[],
  plan: PlannedRequest[],
  speedup: number,
  mt: MultiTurnShape | undefined,
  target: (req: PlannedRequest) => number = () => 0,
): Promise<{ outcomes: Outcome[]; makespan: number }> {
  const pools = urls.map((u) => new Pool(u, { connections: 2048, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 }));
  const t0 = performance.now();
  const outcomes: Outcome[] = [];
  const runOne = async (req: PlannedRequest): Promise<void> => {
    await sleep(t0 + (req.at * 1000) / speedup - performance.now());
    let current = req;
    for (;;) {
      const o = await stream(pools[target(current)]!, current, {});
      o.at = current.at;
      outcomes.push(o);
      if (!mt || !o.ok || (current.turn ?? 0) + 1 >= mt.turns) return;
      await sleep((mt.thinkSeconds * 1000) / speedup);
      current = nextTurn(current, o.text, mt, (current.conversation ?? 0) * 100 + (current.turn ?? 0) + 1);
    }
  };
  await Promise.all(plan.map(runOne));
  const makespan = (performance.now() - t0) / 1000;
  await Promise.all(pools.map((p) => p.close()));
  return { outcomes, makespan };
}

/** The fleet's prefix-cache hit rate, and how many requests each engine finished (how evenly the router spread load). */
async function fleetCounts(fleet: EngineFleet): Promise<{ hitRate: number; perEngine: number[] }> {
  let hits = 0;
  let queries = 0;
  const perEngine: number[] = [];
  for (const e of fleet.endpoints) {
    const text = await (await fetch(`http://${e.address}/metrics`)).text();
    const m = parseEngineMetrics(text, "vllm");
    hits += m.prefixCacheHits ?? 0;
    queries += m.prefixCacheQueries ?? 0;
    let finished = 0;
    for (const [, n] of text.matchAll(/^vllm:request_success_total\{[^}]*\} (\S+)$/gm)) finished += Number(n);
    perEngine.push(finished);
  }
  return { hitRate: queries > 0 ? hits / queries : 0, perEngine };
}

/**
 * `RQ_DUMP=dir` writes each run's requests to `dir/<workload>-<router>-<round>.json` — planned send time, TTFT
 * (simulated seconds, 0 when none), engine and outcome — to see where a percentile comes from (the cold start's
 * prefills, or one engine's load).
 */
function dumpOutcomes(dir: string, name: string, outcomes: readonly Outcome[], speedup: number): void {
  const rows = outcomes.map((o) => ({ at: o.at, ttft_s: round(o.ttft * speedup, 5), target: o.target, ok: o.ok }));
  writeFileSync(path.join(dir, `${name.replace(/[^\w+.-]+/g, "_")}.json`), JSON.stringify(rows));
}

interface Params {
  replicas: number;
  speedup: number;
  numGpuBlocks: number;
  shared: SharedPrefixShape;
  sharedRounds: number;
  uncongestedTenants: number;
  uncongestedRounds: number;
  multi: MultiTurnShape;
  random: RandomShape;
}

function params(quick: boolean): Params {
  const scale = quick ? 0.2 : 1;
  return {
    replicas: 4,
    // Slow motion: simulated time runs at a quarter of wall-clock speed, so the load generator, routers and
    // engines (all on a small shared machine) stay far from CPU saturation and their jitter shrinks 4× in simulated time.
    speedup: Number(process.env.RQ_SPEEDUP ?? 0.25),
    numGpuBlocks: Number(process.env.RQ_BLOCKS ?? 2000),
    shared: {
      // 40 tenants × 3,000 tokens ≈ 0.94 × the fleet's KV (4 × 2,000 blocks × 16 tokens), with the running requests'
      // own blocks on top: the engines evict under load, the regime of llm-d's b2b-saas run (150 tenants × 6,000
      // tokens, long decodes filling the KV), where a router's view of what each engine still holds decides TTFT.
      tenants: Number(process.env.RQ_TENANTS ?? 40),
      prefixTokens: Number(process.env.RQ_PREFIX ?? 3000),
      questionTokens: 150,
      outputTokens: 32,
      // Offered load past what cache-blind routing serves (random saturates near 70 req/s here), as in llm-d's
      // b2b-saas run: the throughput ratio then shows what the cache saves, not the offered rate.
      rate: Number(process.env.RQ_RATE ?? 160),
      requests: Math.round(Number(process.env.RQ_REQUESTS ?? 1100) * scale),
    },
    // Rounds of the summary's pair (ours and sglang-router) on shared-prefix, interleaved; the median round counts.
    // Under eviction one router's TTFT p90 moves by up to 2× from round to round, so the summary also gives each
    // round's ratio.
    sharedRounds: quick ? 1 : Number(process.env.RQ_ROUNDS ?? 5),
    // The same shape with 24 tenants (≈ 0.56 × the fleet's KV), for that pair and the no-router reference: room to
    // spare, nothing evicted after warm-up. Every cache-aware router there sends each tenant to one engine, as the
    // no-router reference does, and TTFT p90 is the engines' step time, not the routers' doing.
    uncongestedTenants: Number(process.env.RQ_UNCONGESTED_TENANTS ?? 24),
    uncongestedRounds: quick || process.env.RQ_SHARED_ONLY ? 0 : Number(process.env.RQ_UNCONGESTED_ROUNDS ?? 3),
    multi: {
      conversations: Math.round(32 * scale),
      turns: 4,
      systemTokens: 1500,
      userTokens: 150,
      outputTokens: 64,
      rate: 6,
      thinkSeconds: 0.5,
    },
    random: { promptTokens: 1500, outputTokens: 32, rate: 60, requests: Math.round(300 * scale) },
  };
}

/**
 * The true median of a stat over a router's rounds on a workload (the mean of the middle two of an even count);
 * undefined when it has no round there.
 */
function medianOf(
  runs: readonly RunStats[],
  workload: string,
  router: string,
  stat: "ttft_p90_s" | "output_tok_s",
): number | undefined {
  const xs = runs.filter((r) => r.workload === workload && r.router === router).map((r) => r[stat]);
  return xs.length > 0 ? median(xs) : undefined;
}

/** Largest minus smallest of a stat over a router's rounds on a workload: how far the rounds disagree. */
function spreadOf(runs: readonly RunStats[], workload: string, router: string, stat: "ttft_p90_s"): number {
  const xs = runs.filter((r) => r.workload === workload && r.router === router).map((r) => r[stat]);
  return xs.length > 0 ? round(spread(xs), 4) : 0;
}

const OURS = "exact-prefix+load";
const SGLANG = "sglang-router cache_aware";
const REPEATED: ReadonlySet<string> = new Set([OURS, SGLANG]);

/**
 * A reference for shared-prefix without a router: the load generator sends each tenant straight to engine
 * tenant mod replicas (6 tenants each). A router adds its hop over this; its own placement can do better or worse
 * than this fixed one (in the cold start, which engine prefills which tenant, and when, moves TTFT p90).
 */
const NO_ROUTER = "no router (tenant-sharded)";
/** The summary's workload: shared prefixes under cache pressure. */
const SHARED = "shared-prefix";
const UNCONGESTED = "shared-prefix-uncongested";

const ROUTERS = [
  { name: NO_ROUTER, direct: true },
  { name: "random", strategy: "random" },
  { name: "least-request", strategy: "least-request" },
  { name: "prefix-cache", strategy: "prefix-cache" },
  { name: "exact-prefix+load", strategy: "kv-prefix-load" },
  { name: "sglang-router cache_aware", peer: true },
] as const;

const bench: Benchmark = {
  async run(ctx) {
    prioritizeSelf();
    const p = params(ctx.quick);
    const workloads: {
      name: string;
      plan: () => PlannedRequest[];
      mt?: MultiTurnShape;
      rounds?: number;
      /** Only these routers run it (default: all). */
      routers?: ReadonlySet<string>;
    }[] = [{ name: SHARED, plan: () => sharedPrefix(MODEL, p.shared), rounds: p.sharedRounds }];
    if (p.uncongestedRounds > 0) {
      workloads.push({
        name: UNCONGESTED,
        plan: () => sharedPrefix(MODEL, { ...p.shared, tenants: p.uncongestedTenants }),
        rounds: p.uncongestedRounds,
        routers: new Set([...REPEATED, NO_ROUTER]),
      });
    }
    if ((!ctx.quick || process.env.RQ_ALL) && !process.env.RQ_SHARED_ONLY) {
      workloads.push({ name: "multi-turn", plan: () => multiTurn(MODEL, p.multi), mt: p.multi });
      workloads.push({ name: "random", plan: () => randomPrompts(MODEL, p.random) });
    }
    const only = process.env.RQ_ROUTERS?.split(",");
    // RQ_WORKLOADS=multi-turn,random runs just those (to look into one workload; the summary then lacks the rest).
    const onlyWorkloads = process.env.RQ_WORKLOADS?.split(",");
    if (onlyWorkloads)
      workloads.splice(0, workloads.length, ...workloads.filter((w) => onlyWorkloads.includes(w.name)));
    const sglangMissing = peerUnavailable("sglang-router");
    const peerErrors: Record<string, string> = {};
    if (sglangMissing) peerErrors["sglang-router"] = sglangMissing;
    const stats: RunStats[] = [];
    for (const w of workloads) {
      for (let pass = 1; pass <= (w.rounds ?? 1); pass++) {
        for (const r of ROUTERS) {
          if (only && !only.includes(r.name)) continue;
          if (w.routers && !w.routers.has(r.name)) continue;
          // Later rounds repeat only the pair the summary compares, interleaved so machine drift hits both alike.
          if (pass > 1 && !REPEATED.has(r.name)) continue;
          // Quick runs keep what the summary needs: random, ours, and the peer.
          if (ctx.quick && !only && (r.name === "least-request" || r.name === "prefix-cache")) continue;
          if ("peer" in r && sglangMissing) continue;
          if ("direct" in r && w.name !== SHARED && w.name !== UNCONGESTED) continue;
          ctx.progress(`${w.name}: ${r.name}${pass > 1 ? ` (round ${pass})` : ""}`);
          const procs: Proc[] = [];
          try {
            const fleet = await startEngines({
              model: MODEL,
              replicas: p.replicas,
              speedup: p.speedup,
              kvEvents: true,
              extra: ["--num-gpu-blocks", String(p.numGpuBlocks)],
            });
            procs.push(fleet.proc);
            let router: Proc | undefined;
            try {
              if ("peer" in r) router = await startPeer("sglang-router", fleet, MODEL, "cache_aware");
              else if ("strategy" in r) {
                // The product's prefix-scorer defaults: no `prefix` options given.
                router = await startOurRouter(fleet, MODEL, r.strategy, {
                  scrapeIntervalMs: Number(process.env.RQ_SCRAPE_MS ?? 100),
                });
              }
            } catch (err) {
              peerErrors[r.name] = (err as Error).message.slice(0, 500);
              continue;
            }
            if (router) procs.push(router);
            const cpuBefore = { router: router ? cpuSeconds(router) : 0, engines: cpuSeconds(fleet.proc) };
            const { outcomes, makespan } = router
              ? await runPlan([router.url], w.plan(), p.speedup, w.mt)
              : await runPlan(
                  fleet.endpoints.map((e) => `http://${e.address}`),
                  w.plan(),
                  p.speedup,
                  w.mt,
                  (req) => (req.tenant ?? 0) % fleet.endpoints.length,
                );
            const cpu = {
              router: router ? round(cpuSeconds(router) - cpuBefore.router, 2) : 0,
              engines: round(cpuSeconds(fleet.proc) - cpuBefore.engines, 2),
            };
            const counts = await fleetCounts(fleet);
            if (process.env.RQ_DUMP)
              dumpOutcomes(process.env.RQ_DUMP, `${w.name}-${r.name}-${pass}`, outcomes, p.speedup);
            const ok = outcomes.filter((o) => o.ok && o.ttft > 0);
            const tokens = ok.reduce((n, o) => n + o.tokens, 0);
            const itls = ok.filter((o) => o.tokens > 1).map((o) => ((o.e2e - o.ttft) / (o.tokens - 1)) * 1000);
            const s: RunStats = {
              workload: w.name,
              router: r.name,
              round: pass,
              requests: outcomes.length,
              errors: outcomes.length - ok.length,
              ttft_p50_s: round(
                percentile(
                  ok.map((o) => o.ttft),
                  50,
                ) * p.speedup,
                4,
              ),
              ttft_p90_s: round(
                percentile(
                  ok.map((o) => o.ttft),
                  90,
                ) * p.speedup,
                4,
              ),
              ttft_p99_s: round(
                percentile(
                  ok.map((o) => o.ttft),
                  99,
                ) * p.speedup,
                4,
              ),
              itl_ms: round((itls.reduce((a, b) => a + b, 0) / Math.max(1, itls.length)) * p.speedup, 3),
              output_tok_s: round(tokens / (makespan * p.speedup), 1),
              prefix_hit_rate: round(counts.hitRate, 4),
              makespan_s: round(makespan * p.speedup, 2),
              router_cpu_s: cpu.router,
              engines_cpu_s: cpu.engines,
              engine_requests: counts.perEngine,
            };
            ctx.progress(JSON.stringify(s));
            stats.push(s);
          } finally {
            for (const x of procs.reverse()) await x.stop().catch(() => undefined);
          }
        }
      }
    }
    const p90 = (router: string, workload = SHARED) => medianOf(stats, workload, router, "ttft_p90_s");
    const tokS = (router: string) => medianOf(stats, SHARED, router, "output_tok_s");
    const ratio = (a: number | undefined, b: number | undefined) => (a && b ? round(a / b, 3) : 0);
    // TTFT p90 (ms, simulated) of a router's median round minus the no-router reference's: its hop, and its placement.
    // 0 when either run is missing, as `ratio`.
    const overNoRouterMs = (router: string, workload: string) => {
      const r = p90(router, workload);
      const floor = p90(NO_ROUTER, workload);
      return r !== undefined && floor !== undefined ? round((r - floor) * 1000, 2) : 0;
    };
    // sglang-router's TTFT p90 over ours, round by round (rounds run the pair back to back).
    const byRound = (workload: string) =>
      stats
        .filter((r) => r.workload === workload && r.router === OURS)
        .map((o) =>
          ratio(
            stats.find((r) => r.workload === workload && r.router === SGLANG && r.round === o.round)?.ttft_p90_s,
            o.ttft_p90_s,
          ),
        );
    const worstOf = (xs: number[]) => (xs.length > 0 ? Math.min(...xs) : 0);
    const cacheableOverFleetKv = (tenants: number) =>
      round((tenants * p.shared.prefixTokens) / (p.replicas * p.numGpuBlocks * 16), 3);
    return {
      params: {
        ...p,
        shared_cacheable_over_fleet_kv: cacheableOverFleetKv(p.shared.tenants),
        uncongested_cacheable_over_fleet_kv: cacheableOverFleetKv(p.uncongestedTenants),
        profile: "h100-8b",
        ours: "exact-prefix+load = profile kv-prefix-load: kv-prefix:3 (engine KV events + 5 s speculative entries, same load guard as prefix-cache), least-request:1",
        prefix_cache_options: { ...defaultPrefixScorerOptions, given: "none: the product defaults" },
        aggregation: "true median over rounds of each router's per-round figure; every round in series.runs",
        sglang_policy: "cache_aware",
        our_router_build:
          process.env.BENCH_ROUTER_FROM === "source"
            ? "TypeScript sources through tsx"
            : "compiled with tsc -p tsconfig.build.json (the JavaScript the aibrix-ts bin runs)",
        peer_errors: peerErrors,
        routers: routerSetups(),
      },
      summary: {
        throughput_x_random: ratio(tokS(OURS), tokS("random")),
        ttft_p90_x_random: ratio(p90("random"), p90(OURS)),
        ttft_p90_x_sglang_router: ratio(p90(SGLANG), p90(OURS)),
        ttft_p90_s_spread: spreadOf(stats, SHARED, OURS, "ttft_p90_s"),
        sglang_ttft_p90_s_spread: spreadOf(stats, SHARED, SGLANG, "ttft_p90_s"),
        // The least favourable round pair: whether the median hides a round where sglang-router did better.
        ttft_p90_x_sglang_router_worst_round: worstOf(byRound(SHARED)),
        throughput_x_sglang_router: ratio(tokS(OURS), tokS(SGLANG)),
        ttft_p90_over_no_router_ms: overNoRouterMs(OURS, SHARED),
        sglang_ttft_p90_over_no_router_ms: overNoRouterMs(SGLANG, SHARED),
        prefix_cache_throughput_x_random: ratio(tokS("prefix-cache"), tokS("random")),
        prefix_cache_ttft_p90_x_random: ratio(p90("random"), p90("prefix-cache")),
        uncongested_ttft_p90_x_sglang_router: ratio(p90(SGLANG, UNCONGESTED), p90(OURS, UNCONGESTED)),
        uncongested_ttft_p90_over_no_router_ms: overNoRouterMs(OURS, UNCONGESTED),
        uncongested_sglang_ttft_p90_over_no_router_ms: overNoRouterMs(SGLANG, UNCONGESTED),
      },
      series: {
        runs: stats,
        ttft_p90_x_sglang_router_by_round: {
          [SHARED]: byRound(SHARED),
          [UNCONGESTED]: byRound(UNCONGESTED),
        },
      },
    };
  },

  plot(result: BenchResult): TopLevelSpec {
    // Every round is plotted; the bar is its median, as in the summary.
    const rows = (result.series.runs as RunStats[]).flatMap((r) => [
      { workload: r.workload, router: r.router, metric: "TTFT p90 (s)", value: Math.max(r.ttft_p90_s, 1e-3) },
      { workload: r.workload, router: r.router, metric: "output tok/s", value: r.output_tok_s },
      { workload: r.workload, router: r.router, metric: "prefix hit rate", value: r.prefix_hit_rate },
    ]);
    return {
      title: "Routing quality on simulated H100 8B engines",
      data: { values: rows },
      facet: { row: { field: "metric", type: "nominal" }, column: { field: "workload", type: "nominal" } },
      spec: {
        mark: "bar",
        encoding: {
          x: { field: "router", type: "nominal", axis: { labelAngle: -40 } },
          y: { field: "value", type: "quantitative", aggregate: "median" },
          color: { field: "router", type: "nominal" },
        },
      },
      resolve: { scale: { y: "independent" } },
    } as TopLevelSpec;
  },
};

export default bench;
