// KV cache reuse beyond GPU memory: shared-document prompts whose working set is several times the fleet's GPU KV,
// through our router (kv-prefix-load) on simulated H100 8B engines, (a) with vLLM's prefix caching only and (b) with
// a shared KV tier (simulator --shared-tier-blocks) that keeps evicted blocks and loads them at a stated network
// bandwidth. Each configuration gets a fresh fleet and router per round; rounds alternate configurations.
//
// Times are simulated (real-hardware-equivalent): wall-clock figures times the simulator speedup.
import type { TopLevelSpec } from "vega-lite";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { percentile, poissonLoop, round } from "../router-common/loadgen.js";
import { startEngines, startOurRouter, prioritizeSelf, type Proc } from "../router-common/processes.js";
import { sharedPrefix, type SharedPrefixShape } from "../routing-quality/workloads.js";

const MODEL = "llama-3-8b";
const BLOCK = 16;

interface RoundStats {
  config: "prefix-cache-only" | "shared-tier";
  round: number;
  requests: number;
  errors: number;
  ttft_p50_s: number;
  ttft_p99_s: number;
  /** Completed requests per simulated second over the run. */
  throughput_rps: number;
  /** Fraction of prompt tokens served from cache (GPU or tier), from the engines' own counters. */
  cached_token_rate: number;
}

async function engineCounters(urls: string[]): Promise<{ queries: number; hits: number }> {
  let queries = 0;
  let hits = 0;
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (line.startsWith("vllm:prefix_cache_queries_total")) queries += Number(line.split(" ").pop());
      if (line.startsWith("vllm:prefix_cache_hits_total")) hits += Number(line.split(" ").pop());
    }
  }
  return { queries, hits };
}

async function runRound(
  config: RoundStats["config"],
  round: number,
  o: {
    replicas: number;
    gpuBlocks: number;
    tierBlocks: number;
    gbps: number;
    speedup: number;
    shape: SharedPrefixShape;
  },
): Promise<RoundStats> {
  const extra = ["--num-gpu-blocks", String(o.gpuBlocks), "--max-model-len", "8192"];
  if (config === "shared-tier")
    extra.push("--shared-tier-blocks", String(o.tierBlocks), "--shared-tier-gbps", String(o.gbps));
  const fleet = await startEngines({ model: MODEL, replicas: o.replicas, speedup: o.speedup, kvEvents: true, extra });
  let router: Proc | undefined;
  try {
    router = await startOurRouter(fleet, MODEL, "kv-prefix-load");
    const plan = sharedPrefix(MODEL, o.shape, 100 + round);
    const urls = fleet.endpoints.map((e) => `http://${e.address}`);
    const before = await engineCounters(urls);
    const t0 = performance.now();
    const samples = await poissonLoop(
      router.url,
      (i) => ({ path: plan[i]!.path, body: JSON.stringify({ ...plan[i]!.body, stream: true }) }),
      o.shape.rate * o.speedup,
      plan.length,
    );
    const wall = (performance.now() - t0) / 1000;
    const after = await engineCounters(urls);
    const ok = samples.filter((s) => s.status === 200);
    const ttfts = ok.map((s) => (s.ttftMs / 1000) * o.speedup);
    const queries = after.queries - before.queries;
    return {
      config,
      round,
      requests: samples.length,
      errors: samples.length - ok.length,
      ttft_p50_s: round3(percentile(ttfts, 50)),
      ttft_p99_s: round3(percentile(ttfts, 99)),
      throughput_rps: round3(ok.length / (wall * o.speedup)),
      cached_token_rate: round3(queries > 0 ? (after.hits - before.hits) / queries : 0),
    };
  } finally {
    await router?.stop();
    await fleet.proc.stop();
  }
}

const round3 = (x: number) => round(x, 3);
const median = (xs: number[]) => percentile(xs, 50);

async function run(ctx: { quick: boolean; progress(m: string): void }) {
  prioritizeSelf();
  const replicas = 2;
  // 32 documents of 2,048 tokens: 4,096 blocks against 2 × 512 GPU blocks, a working set 4× the fleet's GPU KV
  // (quick: 24 documents against 2 × 384).
  const gpuBlocks = ctx.quick ? 384 : 512;
  const shape: SharedPrefixShape = {
    tenants: ctx.quick ? 24 : 32,
    prefixTokens: 2048,
    questionTokens: 64,
    outputTokens: 32,
    rate: ctx.quick ? 1.5 : 2,
    requests: ctx.quick ? 60 : 240,
  };
  const params = {
    model: MODEL,
    profile: "h100-8b",
    replicas,
    gpuBlocksPerEngine: gpuBlocks,
    blockSize: BLOCK,
    workingSetBlocks: (shape.tenants * shape.prefixTokens) / BLOCK,
    workingSetOverFleetGpuKv: round3((shape.tenants * shape.prefixTokens) / BLOCK / (replicas * gpuBlocks)),
    sharedTierBlocks: 8192,
    sharedTierGbps: 100,
    kvBytesPerToken: 131_072,
    router: "kv-prefix-load",
    speedup: 10,
    rounds: ctx.quick ? 1 : 3,
    quick: ctx.quick,
    shape,
  };
  const rounds: RoundStats[] = [];
  for (let r = 1; r <= params.rounds; r++) {
    for (const config of ["prefix-cache-only", "shared-tier"] as const) {
      ctx.progress(`round ${r}/${params.rounds}: ${config}`);
      const stats = await runRound(config, r, {
        replicas,
        gpuBlocks,
        tierBlocks: params.sharedTierBlocks,
        gbps: params.sharedTierGbps,
        speedup: params.speedup,
        shape,
      });
      ctx.progress(JSON.stringify(stats));
      rounds.push(stats);
    }
  }
  const of = (c: RoundStats["config"], k: keyof RoundStats) =>
    median(rounds.filter((s) => s.config === c).map((s) => s[k] as number));
  const baseCached = of("prefix-cache-only", "cached_token_rate");
  const summary = {
    throughput_x_no_tier: round3(of("shared-tier", "throughput_rps") / of("prefix-cache-only", "throughput_rps")),
    ttft_p50_x_no_tier: round3(of("prefix-cache-only", "ttft_p50_s") / of("shared-tier", "ttft_p50_s")),
    ttft_p99_x_no_tier: round3(of("prefix-cache-only", "ttft_p99_s") / of("shared-tier", "ttft_p99_s")),
    // Prompt tokens the tier supplied beyond what GPU prefix caching found on its own.
    shared_tier_hit_rate: round3(Math.max(0, of("shared-tier", "cached_token_rate") - baseCached)),
  };
  return { params, summary, series: { rounds } };
}

function plot(result: BenchResult): TopLevelSpec {
  const rounds = (result.series as { rounds: RoundStats[] }).rounds;
  const values = rounds.flatMap((r) => [
    { config: r.config, metric: "TTFT p50 (s)", value: r.ttft_p50_s, round: r.round },
    { config: r.config, metric: "TTFT p99 (s)", value: r.ttft_p99_s, round: r.round },
    { config: r.config, metric: "throughput (req/s)", value: r.throughput_rps, round: r.round },
  ]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: "KV cache reuse: prefix caching only vs a shared KV tier (every round shown)",
    data: { values },
    facet: { column: { field: "metric", type: "nominal" } },
    spec: {
      width: 180,
      height: 200,
      mark: { type: "point", filled: true, size: 80 },
      encoding: {
        x: { field: "config", type: "nominal", title: null },
        y: { field: "value", type: "quantitative" },
        color: { field: "config", type: "nominal" },
      },
    },
    resolve: { scale: { y: "independent" } },
  };
}

const bench: Benchmark = { run, plot };
export default bench;
