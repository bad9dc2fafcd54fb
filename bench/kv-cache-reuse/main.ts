// KV cache reuse beyond GPU memory. Questions on shared documents and multi-turn conversations whose reusable
// prompts add up to several times the fleet's GPU KV, sent by a fixed number of users (each sends its next request
// when the last one is answered), through our router (kv-prefix-load) to simulated engines:
//   (a) prefix-cache-only: vLLM's GPU prefix caching alone; what GPU KV evicts is recomputed;
//   (b) shared-tier: the same engines sharing a KV tier (simulator --shared-tier-blocks) that stores every block once
//       computed and loads it at a stated network bandwidth, and KV events with medium CPU telling the router where it
//       lives. The router credits a block in the tier by the share of its computation a load at that bandwidth
//       saves (prefix.offloadedBlockWeight, from the stated bandwidth and the profile's prefill cost per token).
// Each configuration gets a fresh fleet and router per round; the order alternates per round so drift on a shared
// machine hits both alike. A round opens with a warm-up that is not measured: without it the round's TTFT tail is its
// start — every user's first request at the same instant, each a document's or conversation's first touch — the same
// cold prefills in both configurations, which says nothing about reuse. Engines run in real time (speedup 1): host
// work (tokenizing in the router and the simulator) is then small beside the simulated GPU's, as on real hardware.
import { Pool } from "undici";
import type { TopLevelSpec } from "vega-lite";
import { ModelTokenizer } from "../../api/model-tokenizer.js";
import { offloadedBlockWeightFor } from "../../router/picking/scorers.js";
import { getCalibration } from "../../simulator/calibrations.js";
import { SIMULATOR_TOKENIZER_DIR } from "../../simulator/index.js";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { median, spread } from "../lib/stats.js";
import { percentile, round } from "../router-common/loadgen.js";
import { prioritizeSelf, startEngines, startOurRouter, type Proc } from "../router-common/processes.js";
import { complete, type Answer } from "./client.js";
import { rng, TokenText } from "../lib/token-text.js";
import { corpus, questionPrompt, turnPrompt, workingSetTokens, type Corpus, type ReuseShape } from "./workload.js";

const MODEL = "llama-3-8b";
const BLOCK = 16;
export const CONFIGS = ["prefix-cache-only", "shared-tier"] as const;
type Config = (typeof CONFIGS)[number];

export interface RoundStats {
  config: Config;
  round: number;
  requests: number;
  errors: number;
  /** Distinct reasons of failed requests (status and message), at most three. */
  errorReasons: string[];
  /** Times the router took an engine out for failed health checks (a host too busy to answer in time). */
  healthCheckTakeouts: number;
  ttft_p50_s: number;
  ttft_p99_s: number;
  /** Measured requests that are a document's or a conversation's first in the round: no cache can serve them. */
  first_touches: number;
  /** TTFT p99 of the other requests, those a cache can serve. */
  ttft_p99_repeat_s: number;
  /** Completed requests per second over the round. */
  throughput_rps: number;
  /** Prompt tokens found in GPU prefix caches, from the engines' vllm:prefix_cache_* counters. */
  gpu_hit_rate: number;
  /** Prompt tokens loaded from the shared tier, from the engines' vllm:external_prefix_cache_* counters. */
  tier_hit_rate: number;
}

interface Params {
  replicas: number;
  gpuBlocksPerEngine: number;
  users: number;
  /** Requests each round sends before it measures (the same users and workload, answers not counted). */
  warmupRequests: number;
  requestsPerRound: number;
  sharedTierBlocks: number;
  sharedTierGbps: number;
  kvBytesPerToken: number;
  shape: ReuseShape;
}

async function counters(urls: string[]): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const line of text.split("\n")) {
      const m = /^(vllm:(?:external_)?prefix_cache_(?:queries|hits)_total)\{[^}]*\} (\S+)$/.exec(line);
      if (m) sums[m[1]!] = (sums[m[1]!] ?? 0) + Number(m[2]);
    }
  }
  return sums;
}

/**
 * Users alternate, at random, between a question on a random document and the next turn of the idlest conversation.
 * The first `warmupRequests` issued are the warm-up; `onMeasuring` is called when the first measured one is issued.
 */
type Sent = Answer & { first: boolean; warmup: boolean };

async function drive(
  router: string,
  text: TokenText,
  docs: Corpus,
  p: Params,
  seed: number,
  onMeasuring: () => void,
): Promise<Sent[]> {
  const pool = new Pool(router, { connections: p.users, headersTimeout: 600_000, bodyTimeout: 600_000 });
  const histories = [...docs.openings];
  const turns = histories.map(() => 0);
  const idle = histories.map((_, c) => c);
  const answers: Sent[] = [];
  const seen = new Set<string>();
  const firstTime = (key: string) => {
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  };
  let issued = 0;
  const total = p.warmupRequests + p.requestsPerRound;
  const user = async (u: number) => {
    const r = rng(seed * 1000 + u + 1);
    while (issued < total) {
      const warmup = issued < p.warmupRequests;
      if (issued++ === p.warmupRequests) onMeasuring();
      const c = r() < 0.5 ? idle.shift() : undefined;
      if (c === undefined) {
        const d = Math.floor(r() * docs.documents.length);
        const first = firstTime(`doc ${d}`);
        const prompt = questionPrompt(text, docs.documents[d]!, p.shape, r);
        answers.push({ ...(await complete(pool, MODEL, prompt, p.shape.outputTokens)), first, warmup });
        continue;
      }
      const prompt = turnPrompt(text, histories[c]!, p.shape, r);
      const first = firstTime(`conversation ${c}`);
      const answer = await complete(pool, MODEL, prompt, p.shape.outputTokens);
      answers.push({ ...answer, first, warmup });
      // A conversation that has had all its turns starts over from its opening (a new session, same system text).
      turns[c] = answer.status === 200 ? turns[c]! + 1 : turns[c]!;
      histories[c] = turns[c]! >= p.shape.turns ? docs.openings[c]! : prompt + answer.text;
      if (turns[c]! >= p.shape.turns) turns[c] = 0;
      idle.push(c);
    }
  };
  await Promise.all(Array.from({ length: p.users }, (_, u) => user(u)));
  await pool.close();
  return answers;
}

async function runRound(
  config: Config,
  round: number,
  text: TokenText,
  docs: Corpus,
  p: Params & { offloadedBlockWeight: number },
) {
  const extra = ["--num-gpu-blocks", String(p.gpuBlocksPerEngine)];
  if (config === "shared-tier") {
    extra.push("--shared-tier-blocks", String(p.sharedTierBlocks), "--shared-tier-gbps", String(p.sharedTierGbps));
    extra.push("--kv-bytes-per-token", String(p.kvBytesPerToken));
  }
  const fleet = await startEngines({
    model: MODEL,
    calibration: PROFILE,
    replicas: p.replicas,
    speedup: 1,
    kvEvents: true,
    extra,
  });
  let router: Proc | undefined;
  try {
    router = await startOurRouter(fleet, MODEL, "kv-prefix-load", {
      prefix: { offloadedBlockWeight: p.offloadedBlockWeight },
    });
    const urls = fleet.endpoints.map((e) => `http://${e.address}`);
    let t0 = performance.now();
    let before: Promise<Record<string, number>> | undefined;
    const all = await drive(router.url, text, docs, p, round, () => {
      t0 = performance.now();
      before = counters(urls);
    });
    const seconds = (performance.now() - t0) / 1000;
    const answers = all.filter((a) => !a.warmup);
    const [start, after] = [await before!, await counters(urls)];
    const delta = (k: string) => (after[`vllm:${k}_total`] ?? 0) - (start[`vllm:${k}_total`] ?? 0);
    const rate = (hits: string, queries: string) => (delta(queries) > 0 ? delta(hits) / delta(queries) : 0);
    const ok = answers.filter((a) => a.status === 200);
    const ttfts = ok.map((a) => a.ttftMs / 1000);
    const reasons = [...new Set(answers.filter((a) => a.status !== 200).map((a) => `${a.status}: ${a.error}`))];
    const stats: RoundStats = {
      config,
      round,
      requests: answers.length,
      errors: answers.length - ok.length,
      errorReasons: reasons.slice(0, 3),
      healthCheckTakeouts: router.log().split("failed health checks").length - 1,
      ttft_p50_s: round3(percentile(ttfts, 50)),
      ttft_p99_s: round3(percentile(ttfts, 99)),
      first_touches: answers.filter((a) => a.first).length,
      ttft_p99_repeat_s: round3(
        percentile(
          ok.filter((a) => !a.first).map((a) => a.ttftMs / 1000),
          99,
        ),
      ),
      throughput_rps: round3(ok.length / seconds),
      gpu_hit_rate: round3(rate("prefix_cache_hits", "prefix_cache_queries")),
      tier_hit_rate: round3(rate("external_prefix_cache_hits", "external_prefix_cache_queries")),
    };
    return stats;
  } finally {
    await router?.stop();
    await fleet.proc.stop();
  }
}

const round3 = (x: number) => round(x, 3);
/** a10g-8b: Llama-3.1-8B FP8 on an A10G (24 GB), a GPU whose KV fills quickly. */
const PROFILE = "a10g-8b";

export function settings(quick: boolean) {
  const shape: ReuseShape = {
    documents: 128,
    documentTokens: 1536,
    questionTokens: 64,
    conversations: 64,
    systemTokens: 512,
    turns: 8,
    userTokens: 64,
    outputTokens: 64,
  };
  const p: Params = {
    replicas: 2,
    gpuBlocksPerEngine: 2048,
    users: 32,
    // A third of the measured requests: each conversation has had turns and most documents a question by then.
    warmupRequests: quick ? 16 : 256,
    requestsPerRound: quick ? 48 : 768,
    // Holds the whole working set: what GPU KV evicts is always there to load.
    sharedTierBlocks: 32_768,
    sharedTierGbps: 100,
    // The profile's FP8 KV: 2 × 32 layers × 8 KV heads × 128 × 1 byte.
    kvBytesPerToken: 65_536,
    shape,
  };
  const fleetKvTokens = p.replicas * p.gpuBlocksPerEngine * BLOCK;
  return {
    ...p,
    model: MODEL,
    profile: PROFILE,
    router: "kv-prefix-load",
    speedup: 1,
    rounds: quick ? 1 : 3,
    blockSize: BLOCK,
    workingSetTokens: workingSetTokens(shape),
    fleetGpuKvTokens: fleetKvTokens,
    workingSetOverFleetGpuKv: round3(workingSetTokens(shape) / fleetKvTokens),
    /** Seconds to load one block from the tier: bytes / bandwidth. */
    tierSecondsPerBlock: (p.kvBytesPerToken * BLOCK) / ((p.sharedTierGbps * 1e9) / 8),
    /** The router's credit for a tier-held block: the share of its computation a load at that bandwidth saves. */
    offloadedBlockWeight: round3(
      offloadedBlockWeightFor({
        tierBytesPerSecond: (p.sharedTierGbps * 1e9) / 8,
        kvBytesPerToken: p.kvBytesPerToken,
        prefillSecondsPerToken: getCalibration(PROFILE).coefficients.b1.value,
      }),
    ),
    quick,
  };
}

async function run(ctx: { quick: boolean; progress(m: string): void }) {
  prioritizeSelf();
  const params = settings(ctx.quick);
  const text = new TokenText(await ModelTokenizer.load(SIMULATOR_TOKENIZER_DIR));
  const docs = corpus(text, params.shape);
  ctx.progress(
    `working set ${params.workingSetTokens} tokens = ${params.workingSetOverFleetGpuKv}× the fleet's GPU KV ` +
      `(${params.fleetGpuKvTokens} tokens); ${params.users} users, ${params.requestsPerRound} requests per round`,
  );
  const rounds: RoundStats[] = [];
  for (let r = 1; r <= params.rounds; r++) {
    const order = r % 2 === 1 ? CONFIGS : [...CONFIGS].reverse();
    for (const config of order) {
      ctx.progress(`round ${r}/${params.rounds}: ${config}`);
      const stats = await runRound(config, r, text, docs, params);
      ctx.progress(JSON.stringify(stats));
      rounds.push(stats);
    }
  }
  return { params, summary: summarize(rounds), series: { rounds } };
}

/** Per-round ratios (tier against no tier in the same round), their medians and spreads, and each arm's medians. */
export function summarize(rounds: RoundStats[]): Record<string, number> {
  const of = (c: Config) => rounds.filter((s) => s.config === c).sort((a, b) => a.round - b.round);
  const [base, tier] = [of("prefix-cache-only"), of("shared-tier")];
  const paired = tier.map((t) => [base.find((b) => b.round === t.round)!, t] as const).filter(([b]) => b);
  const ratios = {
    throughput_x_no_tier: paired.map(([b, t]) => t.throughput_rps / b.throughput_rps),
    ttft_p50_x_no_tier: paired.map(([b, t]) => b.ttft_p50_s / t.ttft_p50_s),
    ttft_p99_x_no_tier: paired.map(([b, t]) => b.ttft_p99_s / t.ttft_p99_s),
    // No target: the p99 of the requests a cache can serve, beside the headline p99 over all.
    ttft_p99_repeat_x_no_tier: paired.map(([b, t]) => b.ttft_p99_repeat_s / t.ttft_p99_repeat_s),
    shared_tier_hit_rate: tier.map((t) => t.tier_hit_rate),
  };
  const summary: Record<string, number> = {};
  for (const [key, xs] of Object.entries(ratios)) {
    summary[key] = round3(median(xs));
    summary[`${key}_spread`] = round3(spread(xs));
  }
  for (const [name, rs] of [
    ["no_tier", base],
    ["tier", tier],
  ] as const) {
    for (const k of ["throughput_rps", "ttft_p50_s", "ttft_p99_s", "gpu_hit_rate"] as const) {
      summary[`${name}_${k}`] = round3(median(rs.map((s) => s[k])));
    }
  }
  summary.errors = rounds.reduce((n, s) => n + s.errors, 0);
  return summary;
}

function plot(result: BenchResult): TopLevelSpec {
  const rounds = (result.series as { rounds: RoundStats[] }).rounds;
  const values = rounds.flatMap((r) => [
    { config: r.config, metric: "TTFT p50 (s)", value: r.ttft_p50_s, round: r.round },
    { config: r.config, metric: "TTFT p99 (s)", value: r.ttft_p99_s, round: r.round },
    { config: r.config, metric: "throughput (req/s)", value: r.throughput_rps, round: r.round },
    { config: r.config, metric: "prompt tokens from cache", value: r.gpu_hit_rate + r.tier_hit_rate, round: r.round },
  ]);
  const p = result.params;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: {
      text: "KV cache reuse: GPU prefix caching only vs a shared KV tier (each round a point, the bar its median)",
      subtitle:
        `working set ${String(p.workingSetOverFleetGpuKv)}× the fleet's GPU KV; tier at ${String(p.sharedTierGbps)} ` +
        `Gbit/s; ${String(p.users)} users, ${String(p.replicas)} simulated ${String(p.profile)} engines`,
    },
    data: { values },
    facet: { column: { field: "metric", type: "nominal", title: null } },
    spec: {
      width: 160,
      height: 200,
      layer: [
        {
          mark: { type: "bar", opacity: 0.35 },
          encoding: {
            x: { field: "config", type: "nominal", title: null },
            y: { aggregate: "median", field: "value", type: "quantitative", title: null },
            color: { field: "config", type: "nominal" },
          },
        },
        {
          mark: { type: "point", filled: true, size: 70 },
          encoding: {
            x: { field: "config", type: "nominal" },
            y: { field: "value", type: "quantitative" },
            color: { field: "config", type: "nominal" },
          },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
  };
}

const bench: Benchmark = { run, plot };
export default bench;
