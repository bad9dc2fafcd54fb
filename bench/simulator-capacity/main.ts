// Capacity of one simulator process: how many concurrent SSE streams it serves with a responsive event loop.
// The simulator runs in a process of its own (server.ts: h100-8b profile, real time, node --max-semi-space-size=64);
// a client process (client.ts, nice 10) keeps N streaming completions open. We sample the engine's running count and
// the simulator process's event-loop delay (GET /admin/process: perf_hooks.monitorEventLoopDelay, 1 ms resolution)
// over the steady window, at a small and at the target stream count side by side, next to the same process's delay
// while idle (the host's own scheduling noise) and its CPU use, so a high delay can be told apart from a starved
// process on a busy host.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";
import { performance } from "node:perf_hooks";
import type { TopLevelSpec } from "vega-lite";
import type { Benchmark, BenchContext, BenchResult } from "../lib/result.js";
import { medianOfRounds } from "../lib/stats.js";

const here = path.dirname(fileURLToPath(import.meta.url));

interface ClientReport {
  maxOpen: number;
  completed: number;
  failed: number;
  chunks: number;
  streamed: number;
  openSamples: number[];
}

interface LevelResult {
  streams: number;
  round: number;
  runningP50: number;
  runningMin: number;
  loopLagP50Ms: number;
  loopLagP99Ms: number;
  loopLagMaxMs: number;
  /** The same process's loop delay p99 before the load started (the host's own noise). */
  idleLoopLagP99Ms: number;
  chunksPerSecond: number;
  /** CPU time of this process (simulator) over the window, percent of one core. */
  cpuPct: number;
  failed: number;
  timeline: { t: number; running: number; lagP99Ms: number }[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** V8 young generation for the simulator process: fewer, cheaper scavenges under per-token allocation churn. */
const SIM_NODE_FLAGS = ["--max-semi-space-size=64"];

interface ProcessStats {
  loopLagP50Ms: number;
  loopLagP99Ms: number;
  loopLagMaxMs: number;
  cpuSeconds: number;
  intervalLagP99Ms: number;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}

async function runLevel(
  ctx: BenchContext,
  streams: number,
  round: number,
  seconds: number,
  warmup: number,
): Promise<LevelResult> {
  const maxTokens = 4000;
  const server = spawn(
    process.execPath,
    [...SIM_NODE_FLAGS, "--import", "tsx", path.join(here, "server.ts"), String(streams), String(maxTokens)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const serverExited = new Promise<void>((r) => server.once("exit", () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    server.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      if (buf.includes("\n")) resolve(buf.trim());
    });
    server.once("exit", (code) => reject(new Error(`simulator process exited ${code}`)));
  });
  // The host alone: the simulator process's loop delay while idle.
  await getJson<ProcessStats>(`${url}/admin/process?reset=1`);
  await new Promise((r) => setTimeout(r, 3000));
  const idle = await getJson<ProcessStats>(`${url}/admin/process`);

  const client = spawn(
    process.execPath,
    ["--import", "tsx", path.join(here, "client.ts"), url, String(streams), String(seconds), String(maxTokens)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  // The load generator yields the CPU to the simulator under test (it stands for clients on other machines).
  if (client.pid !== undefined) os.setPriority(client.pid, 10);
  let out = "";
  client.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => client.once("exit", () => r()));
  const timeline: LevelResult["timeline"] = [];
  const running: number[] = [];
  const t0 = Date.now();
  let measuring = false;
  let inWindow = false;
  let windowStart: ProcessStats | null = null;
  let windowEnd: ProcessStats | null = null;
  let windowWall = 0;
  // The client needs a moment to start (tsx): the window opens `warmup` s after the first streams show up and
  // closes shortly before the client stops (its clock started just before its first request).
  const sampler = setInterval(() => {
    void (async () => {
      const s = await getJson<{ running: number }>(`${url}/admin/stats`);
      const lag = await getJson<ProcessStats>(`${url}/admin/process?interval=1`);
      const t = (Date.now() - t0) / 1000;
      if (!measuring && s.running > 0) {
        measuring = true;
        setTimeout(() => {
          void getJson<ProcessStats>(`${url}/admin/process?reset=1`).then((p) => {
            windowStart = p;
            windowWall = performance.now();
            inWindow = true;
          });
        }, warmup * 1000);
        setTimeout(
          () => {
            inWindow = false;
            void getJson<ProcessStats>(`${url}/admin/process`).then((p) => {
              windowEnd = p;
              windowWall = performance.now() - windowWall;
            });
          },
          (seconds - 1.5) * 1000,
        );
      }
      if (inWindow) running.push(s.running);
      timeline.push({ t, running: s.running, lagP99Ms: lag.intervalLagP99Ms });
    })().catch(() => undefined);
  }, 500);
  await exited;
  clearInterval(sampler);
  server.kill("SIGTERM");
  await serverExited;
  const report = JSON.parse(out.trim()) as ClientReport;
  const sortedRunning = running.slice().sort((a, b) => a - b);
  const ws = windowStart as ProcessStats | null;
  const we = windowEnd as ProcessStats | null;
  if (!ws || !we) throw new Error(`${streams} streams: the measurement window never opened (client did not start?)`);
  const result: LevelResult = {
    streams,
    round,
    runningP50: percentile(sortedRunning, 50),
    runningMin: sortedRunning[0] ?? 0,
    loopLagP50Ms: we.loopLagP50Ms,
    loopLagP99Ms: we.loopLagP99Ms,
    loopLagMaxMs: we.loopLagMaxMs,
    idleLoopLagP99Ms: idle.loopLagP99Ms,
    chunksPerSecond: report.chunks / seconds,
    cpuPct: ((we.cpuSeconds - ws.cpuSeconds) / (windowWall / 1000)) * 100,
    failed: report.failed,
    timeline,
  };
  ctx.progress(
    `round ${round}, ${streams} streams: running p50 ${result.runningP50} (min ${result.runningMin}), loop lag p50 ` +
      `${result.loopLagP50Ms.toFixed(2)} ms p99 ${result.loopLagP99Ms.toFixed(2)} ms (idle p99 ${idle.loopLagP99Ms.toFixed(2)} ms), ` +
      `${result.chunksPerSecond.toFixed(0)} chunks/s, CPU ${result.cpuPct.toFixed(0)}%, ${result.failed} failed`,
  );
  return result;
}

/** One round's figures: the target level's, and its lag p99 against the small level's in the same round. */
function roundSummary(
  results: readonly LevelResult[],
  levels: readonly number[],
  round: number,
): Record<string, number> {
  const at = (streams: number) => results.find((l) => l.round === round && l.streams === streams)!;
  const target = at(levels.at(-1)!);
  const small = at(levels[0]!);
  return {
    concurrent_streams: target.runningMin,
    loop_lag_p99_ms: target.loopLagP99Ms,
    loop_lag_p50_ms: target.loopLagP50Ms,
    chunks_per_second: target.chunksPerSecond,
    simulator_cpu_pct: target.cpuPct,
    idle_loop_lag_p99_ms: target.idleLoopLagP99Ms,
    failed_streams: target.failed,
    lag_p99_ratio_vs_500_streams: target.loopLagP99Ms / small.loopLagP99Ms,
  };
}

const bench: Benchmark = {
  async run(ctx) {
    const seconds = ctx.quick ? 14 : 40;
    const warmup = ctx.quick ? 4 : 8;
    const load1 = os.loadavg()[0] ?? 0;
    ctx.progress(`host load average ${load1.toFixed(1)} on ${os.cpus().length} CPUs`);
    const levels = [500, 2000];
    const rounds = ctx.quick ? 1 : 3;
    const results: LevelResult[] = [];
    // Each round runs every level, so a busy spell on the shared host lands on one round, not on one level.
    for (let round = 1; round <= rounds; round++) {
      for (const n of levels) results.push(await runLevel(ctx, n, round, seconds, warmup));
    }
    const perRound = Array.from({ length: rounds }, (_, i) => roundSummary(results, levels, i + 1));
    return {
      params: {
        profile: "h100-8b",
        levels,
        rounds,
        seconds,
        warmupSeconds: warmup,
        maxTokensPerStream: 4000,
        speedup: 1,
        host_load_average_1m_at_start: load1,
        host_load_average_1m_at_end: os.loadavg()[0] ?? 0,
        aggregation: "true median over rounds of each round's figure; _spread is max − min over rounds",
        note:
          "simulator in its own process (node --max-semi-space-size=64), streaming client in another at nice 10; " +
          "lag = the simulator process's monitorEventLoopDelay (1 ms resolution) over the window after warm-up",
      },
      summary: medianOfRounds(perRound, ["concurrent_streams", "loop_lag_p99_ms", "chunks_per_second"]),
      series: { levels: results },
    };
  },
  plot(result: BenchResult): TopLevelSpec {
    const levels = (result.series.levels as LevelResult[]).flatMap((l) =>
      l.timeline.flatMap((p) => [
        { level: `${l.streams} streams, round ${l.round}`, t: p.t, measure: "running streams", value: p.running },
        {
          level: `${l.streams} streams, round ${l.round}`,
          t: p.t,
          measure: "simulator loop lag p99 (ms, per 0.5 s)",
          value: p.lagP99Ms,
        },
      ]),
    );
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: `Simulator capacity: ${result.summary.concurrent_streams} concurrent streams, loop lag p99 ${result.summary.loop_lag_p99_ms?.toFixed(1)} ms`,
      data: { values: levels },
      facet: { row: { field: "measure", type: "nominal", title: null } },
      resolve: { scale: { y: "independent" } },
      spec: {
        width: 600,
        height: 180,
        mark: "line",
        encoding: {
          x: { field: "t", type: "quantitative", title: "seconds" },
          y: { field: "value", type: "quantitative", title: null },
          color: { field: "level", type: "nominal" },
        },
      },
    };
  },
};

export default bench;
