// Router overhead: latency added by the router over going straight to the engine, at a steady 1,000 req/s
// (non-streaming and streaming), and the most small requests per second one router process sustains — side by side
// with sglang-router and vllm-router in front of the same engines, in the same run.
//
// Engines are canned-answer vLLM-shaped processes (canned-engine.ts) so engine time is tiny and steady; every router
// and every engine runs in its own process, and the load generator (this process) in another.
import type { TopLevelSpec } from "vega-lite";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { median, spread } from "../lib/stats.js";
import { closedLoop, makePool, openLoop, percentile, round, type RequestSpec } from "../router-common/loadgen.js";
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

const MODEL = "bench-model";
const RATE = 1000;

interface TargetResult {
  target: string;
  p50_ms: number;
  p99_ms: number;
  stream_p50_ms: number;
  stream_p99_ms: number;
  errors: number;
  max_rps: number;
}

const plain: RequestSpec = {
  path: "/v1/completions",
  body: JSON.stringify({ model: MODEL, prompt: "Write one short sentence about the sea.", max_tokens: 4 }),
};
const streaming: RequestSpec = {
  path: "/v1/completions",
  body: JSON.stringify({
    model: MODEL,
    prompt: "Write one short sentence about the sea.",
    max_tokens: 8,
    stream: true,
    stream_options: { include_usage: true },
  }),
};

async function measure(target: string, url: string, openMs: number, closedMs: number): Promise<TargetResult> {
  // One pool per phase, warmed at the phase's own load first: connection set-up and JIT are not what is measured.
  const open = makePool(url, 64);
  await openLoop(open, () => plain, RATE, Math.min(2000, openMs));
  const a = await openLoop(open, () => plain, RATE, openMs);
  await openLoop(open, () => streaming, RATE, 1000);
  const s = await openLoop(open, () => streaming, RATE, openMs);
  await open.close();
  const closed = makePool(url, 64);
  await closedLoop(closed, () => plain, 64, 1000);
  const c = await closedLoop(closed, () => plain, 64, closedMs);
  await closed.close();
  const ok = (xs: typeof a) => xs.filter((x) => x.status === 200).map((x) => x.ms);
  return {
    target,
    p50_ms: round(percentile(ok(a), 50)),
    p99_ms: round(percentile(ok(a), 99)),
    stream_p50_ms: round(percentile(ok(s), 50)),
    stream_p99_ms: round(percentile(ok(s), 99)),
    errors: [...a, ...s, ...c.samples].filter((x) => x.status !== 200).length,
    max_rps: Math.round(c.rps),
  };
}

function spreadOf(rs: readonly TargetResult[] | undefined, key: "p50_ms" | "p99_ms" | "max_rps"): number {
  return round(spread((rs ?? []).map((x) => x[key])));
}

const bench: Benchmark = {
  async run(ctx) {
    prioritizeSelf();
    const openMs = ctx.quick ? 2000 : 10000;
    const closedMs = ctx.quick ? 2000 : 6000;
    const rounds = ctx.quick ? 1 : 3;
    const procs: Proc[] = [];
    const peerErrors: Record<string, string> = {};
    try {
      ctx.progress("starting 2 canned engines");
      const { procs: engines, fleet } = await startCannedEngines(MODEL, 2);
      procs.push(...engines);
      // Each router runs alone (started, measured, stopped) so an idle peer's background work cannot tax another;
      // rounds interleave the targets so drift in machine load hits all of them alike, and each figure is the median over rounds.
      const starters: { name: string; start: () => Promise<Proc | undefined> }[] = [
        { name: "direct", start: async () => undefined },
        { name: "aibrix-ts", start: () => startOurRouter(fleet, MODEL, "least-request") },
      ];
      for (const peer of ["vllm-router", "sglang-router"] as PeerName[]) {
        const missing = peerUnavailable(peer);
        if (missing) peerErrors[peer] = missing;
        else starters.push({ name: peer, start: () => startPeer(peer, fleet, MODEL, "round_robin") });
      }
      const all = new Map<string, TargetResult[]>();
      for (let r = 0; r < rounds; r++) {
        for (const t of starters) {
          if (peerErrors[t.name]) continue;
          ctx.progress(`round ${r + 1}/${rounds}: ${t.name}`);
          let p: Proc | undefined;
          try {
            p = await t.start();
          } catch (err) {
            peerErrors[t.name] = (err as Error).message.slice(0, 500);
            continue;
          }
          try {
            const res = await measure(t.name, p?.url ?? engines[0]!.url, openMs, closedMs);
            all.set(t.name, [...(all.get(t.name) ?? []), res]);
          } finally {
            await p?.stop();
          }
        }
      }
      // Every figure is the true median of its rounds (max req/s included, not the best round); series.rounds keeps
      // each round and series.spread how far they disagree.
      const med = (xs: number[]) => round(median(xs));
      const results: TargetResult[] = [...all.values()].map((rs) => ({
        target: rs[0]!.target,
        p50_ms: med(rs.map((x) => x.p50_ms)),
        p99_ms: med(rs.map((x) => x.p99_ms)),
        stream_p50_ms: med(rs.map((x) => x.stream_p50_ms)),
        stream_p99_ms: med(rs.map((x) => x.stream_p99_ms)),
        errors: rs.reduce((n, x) => n + x.errors, 0),
        max_rps: med(rs.map((x) => x.max_rps)),
      }));
      const get = (n: string) => results.find((x) => x.target === n);
      const direct = get("direct")!;
      const mine = get("aibrix-ts")!;
      const ratio = (peer: string) => {
        const p = get(peer);
        return p && p.max_rps > 0 ? round(mine.max_rps / p.max_rps) : 0;
      };
      const added = (r: TargetResult) => ({
        added_p50_ms: round(r.p50_ms - direct.p50_ms),
        added_p99_ms: round(r.p99_ms - direct.p99_ms),
        added_stream_p50_ms: round(r.stream_p50_ms - direct.stream_p50_ms),
        added_stream_p99_ms: round(r.stream_p99_ms - direct.stream_p99_ms),
      });
      return {
        params: {
          rate_rps: RATE,
          open_loop_ms: openMs,
          closed_loop_ms: closedMs,
          closed_loop_concurrency: 64,
          rounds,
          engines: "2 canned-answer vLLM-shaped engines, one process each",
          peer_policy: "round_robin",
          our_strategy: "least-request",
          our_router_build:
            process.env.BENCH_ROUTER_FROM === "source"
              ? "TypeScript sources through tsx"
              : "compiled with tsc -p tsconfig.build.json (the JavaScript the aibrix-ts bin runs)",
          peer_errors: peerErrors,
          routers: routerSetups(),
          added_by_target: Object.fromEntries(
            results.filter((r) => r.target !== "direct").map((r) => [r.target, added(r)]),
          ),
        },
        summary: {
          ...added(mine),
          max_rps: mine.max_rps,
          rps_x_sglang_router: ratio("sglang-router"),
          rps_x_vllm_router: ratio("vllm-router"),
          p99_ms_spread: spreadOf(all.get("aibrix-ts"), "p99_ms"),
          max_rps_spread: spreadOf(all.get("aibrix-ts"), "max_rps"),
        },
        series: {
          results,
          rounds: Object.fromEntries(all),
          spread: Object.fromEntries(
            [...all].map(([t, rs]) => [
              t,
              { p50_ms: spreadOf(rs, "p50_ms"), p99_ms: spreadOf(rs, "p99_ms"), max_rps: spreadOf(rs, "max_rps") },
            ]),
          ),
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
      { target: r.target, metric: "stream p50 ms", value: r.stream_p50_ms },
      { target: r.target, metric: "stream p99 ms", value: r.stream_p99_ms },
      { target: r.target, metric: "max req/s (÷1000)", value: r.max_rps / 1000 },
    ]);
    return {
      title: "Router overhead vs direct-to-engine, and capacity",
      data: { values: rows },
      mark: "bar",
      encoding: {
        column: { field: "metric", type: "nominal" },
        x: { field: "target", type: "nominal", sort: ["direct", "aibrix-ts", "vllm-router", "sglang-router"] },
        y: { field: "value", type: "quantitative" },
        color: { field: "target", type: "nominal" },
      },
      resolve: { scale: { y: "independent" } },
    } as TopLevelSpec;
  },
};

export default bench;
