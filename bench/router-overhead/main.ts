// Router overhead: latency added by the router over going straight to the engine, at a steady 1,000 req/s — short
// prompts (plain and streaming) and ~2,500-token prompts — the router's CPU time per request, and the most short
// requests per second one router process sustains; side by side with sglang-router and vllm-router in front of the
// same engines, in the same run. Our router runs with least-request and with the strategies we recommend for shared
// prefixes (prefix-cache, and kv-prefix-load, fed by the engines' KV events). Then how capacity scales with cores:
// our router as 1 and 2 worker processes against the peers with 1 and 2 threads, pinned to the same CPUs
// (scaling.ts).
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
import { COLD_MS, CONCURRENCY, measureTarget, RATE, WARM_MS, type TargetRound } from "./measure.js";
import { summarise, type TargetResult } from "./summary.js";
import { MODEL } from "./workload.js";
import {
  cpusFor,
  measureScalingRound,
  SCALING_CORES,
  scalingArms,
  summariseScaling,
  type ScalingResult,
  type ScalingRound,
} from "./scaling.js";
import os from "node:os";

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

/** Every router at each core count it can be pinned to here, rounds interleaved like the main phase's. */
async function measureScaling(
  fleet: Parameters<typeof startOurRouter>[0],
  peerErrors: Record<string, string>,
  rounds: number,
  closedMs: number,
  progress: (m: string) => void,
): Promise<{ rounds: ScalingRound[]; cores: number[]; skipped: Record<string, string> }> {
  const cores = SCALING_CORES.filter((c) => c <= os.availableParallelism());
  const peers = (["vllm-router", "sglang-router"] as PeerName[]).filter((p) => !peerErrors[`${p} (${PEER_POLICY})`]);
  const arms = scalingArms(fleet, peers, PEER_POLICY);
  const out: ScalingRound[] = [];
  const skipped: Record<string, string> = {};
  for (const c of SCALING_CORES.filter((c) => !cores.includes(c))) skipped[`${c} cores`] = "more than this machine has";
  for (let r = 0; r < rounds; r++) {
    for (const c of cores) {
      for (const arm of arms) {
        progress(`scaling round ${r + 1}/${rounds}: ${arm.router} on ${c} core${c > 1 ? "s" : ""}`);
        try {
          out.push(await measureScalingRound(arm, c, closedMs));
        } catch (err) {
          skipped[`${arm.router} on ${c} cores`] = (err as Error).message.slice(0, 500);
        }
      }
    }
  }
  return { rounds: out, cores, skipped };
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
      const scaling = await measureScaling(fleet, peerErrors, rounds, closedMs, (m) =>
        ctx.progress(`${m} (${Math.round((Date.now() - started) / 1000)} s so far)`),
      );
      const { results, summary, addedByTarget, spread } = summarise(all, OUR_STRATEGIES);
      const scaled = summariseScaling(scaling.rounds);
      ctx.progress(`measured in ${Math.round((Date.now() - started) / 1000)} s`);
      return {
        params: {
          rate_rps: RATE,
          open_loop_ms: openMs,
          schedule:
            `each router started fresh each round; its first ${COLD_MS / 1000} s of short prompts at the rate measured apart ` +
            `(cold), then ${WARM_MS / 1000} s more before the measured short phase, 1 s before the streaming and long ones`,
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
          per_core_scaling:
            `closed loop of short requests (${CONCURRENCY} concurrent, ${closedMs} ms a round) per router pinned with ` +
            `taskset: ${scaling.cores.map((c) => `${c} core${c > 1 ? "s" : ""} = cpus ${cpusFor(c)}`).join(", ")}; ` +
            "ours as --workers 1/2 (least-request), the peers with TOKIO_WORKER_THREADS 1/2 (round_robin); engines " +
            `and load generator unpinned, on the same ${os.availableParallelism()} CPUs`,
          scaling_skipped: scaling.skipped,
          our_router_build:
            process.env.BENCH_ROUTER_FROM === "source"
              ? "TypeScript sources through tsx"
              : "compiled with tsc -p tsconfig.build.json (the JavaScript the aibrix-ts bin runs)",
          peer_errors: peerErrors,
          routers: routerSetups(),
          added_by_target: addedByTarget,
          duration_s: Math.round((Date.now() - started) / 1000),
        },
        summary: { ...summary, ...scaled.summary },
        series: {
          results,
          rounds: Object.fromEntries(all),
          spread,
          scaling: scaled.results,
          scaling_rounds: scaling.rounds,
        },
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
    const overhead = {
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
    };
    const scaling = (result.series.scaling ?? []) as ScalingResult[];
    if (scaling.length === 0) return overhead as TopLevelSpec;
    return {
      vconcat: [
        overhead,
        {
          title: "Closed-loop req/s pinned to 1 and 2 cores (ours: --workers 1/2; peers: 1/2 threads)",
          data: { values: scaling.map((r) => ({ ...r, cores: `${r.cores} core${r.cores > 1 ? "s" : ""}` })) },
          mark: "bar",
          encoding: {
            column: { field: "router", type: "nominal" },
            x: { field: "cores", type: "nominal" },
            y: { field: "max_rps", type: "quantitative", title: "req/s" },
            color: { field: "cores", type: "nominal" },
          },
        },
      ],
    } as TopLevelSpec;
  },
};

export default bench;
