// Router overhead: latency added by the router over going straight to the engine, at a steady 1,000 req/s — short
// prompts (plain and streaming) and ~2,500-token prompts — the router's CPU time per request, and the most short
// requests per second one router process sustains; side by side with sglang-router and vllm-router in front of the
// same engines, in the same run. Our router runs with least-request and with the strategies we recommend for shared
// prefixes (prefix-cache, and kv-prefix-load, fed by the engines' KV events).
//
// Engines are canned-answer vLLM-shaped processes (canned-engine.ts) so engine time is tiny and steady; they publish
// KV events for every router alike. Every router and every engine runs in its own process, and the load generator
// (this process) in another.
import type { TopLevelSpec } from "vega-lite";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { SIMULATOR_TOKENIZER_DIR } from "../../simulator/index.js";
import {
  peerUnavailable,
  prioritizeSelf,
  routerSetups,
  startCannedEngines,
  startOurRouter,
  startPeer,
  type PeerName,
  type Proc,
} from "../router-common/processes.js";
import { measureTarget, RATE, type TargetRound } from "./measure.js";
import { summarise, type TargetResult } from "./summary.js";
import { MODEL } from "./workload.js";

export const OUR_STRATEGIES = ["least-request", "prefix-cache", "kv-prefix-load"] as const;
const PEER_POLICY = "round_robin";

interface Starter {
  name: string;
  start: () => Promise<Proc | undefined>;
}

function starters(fleet: Parameters<typeof startOurRouter>[0], peerErrors: Record<string, string>): Starter[] {
  const out: Starter[] = [{ name: "direct", start: async () => undefined }];
  for (const s of OUR_STRATEGIES) out.push({ name: `aibrix-ts (${s})`, start: () => startOurRouter(fleet, MODEL, s) });
  for (const peer of ["vllm-router", "sglang-router"] as PeerName[]) {
    const name = `${peer} (${PEER_POLICY})`;
    const missing = peerUnavailable(peer);
    if (missing) peerErrors[name] = missing;
    else out.push({ name, start: () => startPeer(peer, fleet, MODEL, PEER_POLICY) });
  }
  return out;
}

const bench: Benchmark = {
  async run(ctx) {
    prioritizeSelf();
    const openMs = ctx.quick ? 2000 : 10000;
    const closedMs = ctx.quick ? 2000 : 6000;
    const rounds = ctx.quick ? 1 : 3;
    const procs: Proc[] = [];
    const peerErrors: Record<string, string> = {};
    const started = Date.now();
    try {
      ctx.progress("starting 2 canned engines (with KV events)");
      const { procs: engines, fleet } = await startCannedEngines(MODEL, 2, SIMULATOR_TOKENIZER_DIR);
      procs.push(...engines);
      const targets = starters(fleet, peerErrors);
      // Each router runs alone (started, measured, stopped) so an idle peer's background work cannot tax another;
      // rounds interleave the targets so drift in machine load hits all of them alike, and each figure is the median
      // over rounds.
      const all = new Map<string, TargetRound[]>();
      for (let r = 0; r < rounds; r++) {
        for (const t of targets) {
          if (peerErrors[t.name]) continue;
          ctx.progress(`round ${r + 1}/${rounds}: ${t.name} (${Math.round((Date.now() - started) / 1000)} s so far)`);
          let p: Proc | undefined;
          try {
            p = await t.start();
          } catch (err) {
            peerErrors[t.name] = (err as Error).message.slice(0, 500);
            continue;
          }
          try {
            const res = await measureTarget(t.name, p, p?.url ?? engines[0]!.url, openMs, closedMs);
            all.set(t.name, [...(all.get(t.name) ?? []), res]);
          } finally {
            await p?.stop();
          }
        }
      }
      const { results, summary, addedByTarget, spread } = summarise(all, OUR_STRATEGIES);
      ctx.progress(`measured in ${Math.round((Date.now() - started) / 1000)} s`);
      return {
        params: {
          rate_rps: RATE,
          open_loop_ms: openMs,
          closed_loop_ms: closedMs,
          closed_loop_concurrency: 64,
          rounds,
          engines: "2 canned-answer vLLM-shaped engines, one process each, publishing KV events",
          prompts:
            "short: one 9-token prompt; long: ~2,530 tokens (8 documents, a tail unique to each request), open loop at the same rate",
          peer_policy: PEER_POLICY,
          our_strategies: [...OUR_STRATEGIES],
          cpu_per_request:
            "user + system CPU time of the router process (all its threads) over the phase, divided by the requests it served",
          per_core_scaling: "not measured: our router runs as one process; req/CPU-s is per router CPU-second",
          our_router_build:
            process.env.BENCH_ROUTER_FROM === "source"
              ? "TypeScript sources through tsx"
              : "compiled with tsc -p tsconfig.build.json (the JavaScript the aibrix-ts bin runs)",
          peer_errors: peerErrors,
          routers: routerSetups(),
          added_by_target: addedByTarget,
          duration_s: Math.round((Date.now() - started) / 1000),
        },
        summary,
        series: { results, rounds: Object.fromEntries(all), spread },
      };
    } finally {
      for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    }
  },

  plot(result: BenchResult): TopLevelSpec {
    const rows = (result.series.results as TargetResult[]).flatMap((r) => [
      { target: r.target, metric: "p50 ms @1k/s", value: r.p50_ms },
      { target: r.target, metric: "p99 ms @1k/s", value: r.p99_ms },
      { target: r.target, metric: "long-prompt p99 ms", value: r.long_p99_ms },
      { target: r.target, metric: "stream p99 ms", value: r.stream_p99_ms },
      { target: r.target, metric: "CPU µs / request", value: r.cpu_us_per_req ?? 0 },
      { target: r.target, metric: "max req/s (÷1000)", value: r.max_rps / 1000 },
    ]);
    return {
      title: "Router overhead vs direct-to-engine, CPU per request, and capacity (medians over rounds)",
      data: { values: rows },
      mark: "bar",
      encoding: {
        column: { field: "metric", type: "nominal" },
        x: { field: "target", type: "nominal", sort: (result.series.results as TargetResult[]).map((r) => r.target) },
        y: { field: "value", type: "quantitative" },
        color: { field: "target", type: "nominal" },
      },
      resolve: { scale: { y: "independent" } },
    } as TopLevelSpec;
  },
};

export default bench;
