// Routing quality on simulated engines: latency–throughput curves (TTFT p90 against offered rate) for each workload of
// the plan (plan.ts: shared prefix with and without KV pressure, multi-turn chat, no sharing, mixed), for our router's
// random (the floor), prefix-cache (approximate, like the peers' cache_aware) and kv-prefix-load (fed by engine KV
// events, reported apart) strategies with their defaults, and for sglang-router's and vllm-router's cache_aware
// policies at the versions scripts/peer-routers.sh pins. Each (round, workload, router) sweep gets a fresh router
// process and cold engine caches (one engine fleet serves the whole run) and runs the workload's rates in ascending
// order; the load generator runs in this process. Rounds interleave the routers, so drift in machine load hits all of them alike.
//
// Times are simulated: wall-clock figures times the simulator's speedup.
import { appendFileSync } from "node:fs";
import type { TopLevelSpec } from "vega-lite";
import { ModelTokenizer } from "../../api/model-tokenizer.js";
import { SIMULATOR_TOKENIZER_DIR } from "../../simulator/index.js";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { TokenText } from "../lib/token-text.js";
import { peerUnavailable, prioritizeSelf, routerSetups } from "../router-common/processes.js";
import { runSweep, startFleet, type PointStats } from "./measure.js";
import { FLEET, POINT, ROUNDS, ROUTERS, WORKLOADS, type RouterPlan, type WorkloadPlan } from "./plan.js";
import { summarise, type CurvePoint } from "./summary.js";

/**
 * Simulated time runs this many times faster than the wall clock (RQ_SPEEDUP), so 5 workloads × 5 routers × 3 rounds
 * × 4 points of 70–80 simulated seconds fit in well under an hour. The cost: wall-clock delays — a router's own
 * latency, the engines' and the load generator's scheduling on a shared machine — count this many times over in
 * simulated TTFT, alike for every router. Each point records the router's, the load generator's and the engines'
 * CPU share and the load average, so a reader can tell where a CPU-bound process, not routing, set a figure, and the
 * summary states each router's own delay in wall-clock ms. One such delay is large: sglang-router 0.3.2 leaves Nagle's
 * algorithm on for client connections (no TCP_NODELAY on accepted sockets) and writes a stream's headers and first
 * event separately, so the first event can wait for the client's delayed ACK, up to 40 ms, times the speedup here.
 */
const SPEEDUP = Number(process.env.RQ_SPEEDUP ?? 12);

/** RQ_POINTS=file appends each point to that file as a JSON line as soon as it is measured. */
function keepPoints(points: readonly PointStats[]): void {
  if (process.env.RQ_POINTS)
    appendFileSync(process.env.RQ_POINTS, points.map((p) => JSON.stringify(p) + "\n").join(""));
}

interface Sizing {
  rounds: number;
  measuredSeconds: number;
  warmup: (i: number) => number;
  rates: (w: WorkloadPlan) => readonly number[];
}

/** The plan as it stands, or a smoke run of it (one round, the lightest and heaviest rate, short windows). */
function sizing(quick: boolean): Sizing {
  if (!quick)
    return {
      rounds: ROUNDS,
      measuredSeconds: POINT.measuredSeconds,
      warmup: (i) => (i === 0 ? POINT.firstWarmupSeconds : POINT.warmupSeconds),
      rates: (w) => w.rates,
    };
  return { rounds: 1, measuredSeconds: 8, warmup: () => 4, rates: (w) => [w.rates[0]!, w.rates.at(-1)!] };
}

function runnable(peerErrors: Record<string, string>): RouterPlan[] {
  const only = process.env.RQ_ROUTERS?.split(",");
  return ROUTERS.filter((r) => {
    if (only && !only.includes(r.name)) return false;
    if (!("peer" in r)) return true;
    const missing = peerUnavailable(r.peer);
    if (missing) peerErrors[r.name] = missing;
    return !missing;
  });
}

const bench: Benchmark = {
  async run(ctx) {
    prioritizeSelf();
    const size = sizing(ctx.quick);
    const peerErrors: Record<string, string> = {};
    const routers = runnable(peerErrors);
    const only = process.env.RQ_WORKLOADS?.split(",");
    const workloads = WORKLOADS.filter((w) => !only || only.includes(w.name));
    const points: PointStats[] = [];
    const started = Date.now();
    const sweeps = size.rounds * workloads.length * routers.length;
    let done = 0;
    ctx.progress(`starting ${FLEET.replicas} simulated ${FLEET.calibration} engines at ${SPEEDUP}× real time`);
    const text = new TokenText(await ModelTokenizer.load(SIMULATOR_TOKENIZER_DIR));
    const fleet = await startFleet(SPEEDUP);
    try {
      for (let round = 1; round <= size.rounds; round++) {
        for (const [wi, workload] of workloads.entries()) {
          for (const router of routers) {
            const elapsed = Math.round((Date.now() - started) / 1000);
            ctx.progress(
              `sweep ${++done}/${sweeps} (${elapsed} s so far): ${workload.name}, ${router.name}, round ${round}`,
            );
            try {
              const got = await runSweep(
                {
                  workload,
                  router,
                  round,
                  rates: size.rates(workload),
                  speedup: SPEEDUP,
                  measuredSeconds: size.measuredSeconds,
                  warmupSeconds: size.warmup,
                  seed: (i) => 1 + round * 1000 + wi * 100 + i,
                  text,
                  progress: ctx.progress,
                },
                fleet,
              );
              points.push(...got);
              keepPoints(got);
            } catch (err) {
              peerErrors[`${router.name} (${workload.name}, round ${round})`] = (err as Error).message.slice(0, 500);
              ctx.progress(`${router.name} failed: ${(err as Error).message.slice(0, 300)}`);
            }
          }
        }
      }
    } finally {
      await fleet.proc.stop().catch(() => undefined);
    }
    const { summary, curves, comparisons } = summarise(points, workloads, SPEEDUP);
    return {
      params: {
        speedup: SPEEDUP,
        fleet: FLEET,
        rounds: size.rounds,
        measured_s: size.measuredSeconds,
        warmup_s: { first: size.warmup(0), others: size.warmup(1) },
        workloads: workloads.map((w) => ({ ...w, rates: size.rates(w) })),
        routers_compared: ROUTERS,
        options:
          "product defaults for every router, except the reference arm that runs prefix-cache with AIBrix's load " +
          "guard beside the default (see routers for the flags and config each ran with)",
        aggregation:
          "per point, TTFT percentiles over requests sent in the measured window; per curve point, the true median over rounds; every round in series.points",
        sweep:
          "rates ascend on one fleet and router per sweep; each point's warm-up lets caches and queues settle from the previous rate",
        our_router_build:
          process.env.BENCH_ROUTER_FROM === "source"
            ? "TypeScript sources through tsx"
            : "compiled with tsc -p tsconfig.build.json (the JavaScript the aibrix-ts bin runs)",
        peer_errors: peerErrors,
        routers: routerSetups(),
        duration_s: Math.round((Date.now() - started) / 1000),
      },
      summary,
      series: { curves, comparisons, points },
    };
  },

  plot(result: BenchResult): TopLevelSpec {
    const curves = (result.series.curves as CurvePoint[]).map((c) => ({
      ...c,
      ttft_p90_s: Math.max(c.ttft_p90_s, 1e-3),
    }));
    const rounds = (result.series.points as PointStats[]).map((p) => ({
      ...p,
      ttft_p90_s: Math.max(p.ttft_p90_s, 1e-3),
    }));
    const x = { field: "rate", type: "quantitative", title: "offered rate (arrivals per simulated second)" } as const;
    const y = { field: "ttft_p90_s", type: "quantitative", scale: { type: "log" }, title: "TTFT p90 (s)" } as const;
    const color = { field: "router", type: "nominal" } as const;
    return {
      title: "Routing quality: TTFT p90 against offered rate (line: median over rounds; dots: each round)",
      data: {
        values: [...curves.map((c) => ({ ...c, layer: "median" })), ...rounds.map((p) => ({ ...p, layer: "round" }))],
      },
      facet: { column: { field: "workload", type: "nominal", sort: WORKLOADS.map((w) => w.name) } },
      spec: {
        layer: [
          {
            transform: [{ filter: "datum.layer === 'median'" }],
            mark: { type: "line", point: true },
            encoding: { x, y, color },
          },
          {
            transform: [{ filter: "datum.layer === 'round'" }],
            mark: { type: "point", opacity: 0.35, size: 18 },
            encoding: { x, y, color },
          },
        ],
      },
      resolve: { scale: { x: "independent" } },
    } as TopLevelSpec;
  },
};

export default bench;
