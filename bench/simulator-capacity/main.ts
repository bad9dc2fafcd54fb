// Capacity of one simulator process: how many concurrent SSE streams it serves with a responsive event loop.
// The simulator runs in this process (h100-8b profile, real time); a separate client process keeps N streaming
// completions open. We sample the engine's running count and measure this process's event-loop delay
// (perf_hooks.monitorEventLoopDelay) over the steady window, at a small and at the target stream count side by side,
// next to the same process's lag while idle (the host's own scheduling noise) and the simulator's CPU use, so a high
// lag can be told apart from a starved process on a busy host.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import type { TopLevelSpec } from "vega-lite";
import type { Benchmark, BenchContext, BenchResult } from "../lib/result.js";
import { startSimulator } from "../../simulator/index.js";

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
  runningP50: number;
  runningMin: number;
  loopLagP50Ms: number;
  loopLagP99Ms: number;
  loopLagMaxMs: number;
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

async function runLevel(ctx: BenchContext, streams: number, seconds: number, warmup: number): Promise<LevelResult> {
  const maxTokens = 4000;
  const sim = await startSimulator({
    model: "m",
    profile: "h100-8b",
    maxNumSeqs: Math.max(streams, 256),
    numGpuBlocks: Math.ceil((streams * (maxTokens + 64)) / 16) + 1024,
    maxModelLen: 8192,
  });
  const client = spawn(
    process.execPath,
    ["--import", "tsx", path.join(here, "client.ts"), sim.url, String(streams), String(seconds), String(maxTokens)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  // The load generator yields the CPU to the simulator under test (it stands for clients on other machines).
  if (client.pid !== undefined) os.setPriority(client.pid, 10);
  let out = "";
  client.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => client.once("exit", () => r()));
  const timeline: LevelResult["timeline"] = [];
  const running: number[] = [];
  const whole = monitorEventLoopDelay({ resolution: 1 });
  let cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  let window = monitorEventLoopDelay({ resolution: 1 });
  const t0 = Date.now();
  let measuring = false;
  let inWindow = false;
  let cpuPct = NaN;
  // The client needs a moment to start (tsx): the window opens `warmup` s after the first streams show up and
  // closes shortly before the client stops (its clock started just before its first request).
  const sampler = setInterval(() => {
    const s = sim.stats();
    const t = (Date.now() - t0) / 1000;
    if (!measuring && s.running > 0) {
      measuring = true;
      setTimeout(() => {
        whole.enable();
        cpu0 = process.cpuUsage();
        wall0 = performance.now();
        inWindow = true;
      }, warmup * 1000);
      setTimeout(
        () => {
          inWindow = false;
          whole.disable();
          const cpu = process.cpuUsage(cpu0);
          cpuPct = ((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100;
        },
        (seconds - 1.5) * 1000,
      );
    }
    if (inWindow) running.push(s.running);
    window.disable();
    timeline.push({ t, running: s.running, lagP99Ms: window.count > 0 ? window.percentile(99) / 1e6 : 0 });
    window = monitorEventLoopDelay({ resolution: 1 });
    window.enable();
  }, 500);
  window.enable();
  await exited;
  clearInterval(sampler);
  window.disable();
  whole.disable();
  await sim.close();
  const report = JSON.parse(out.trim()) as ClientReport;
  const sortedRunning = running.slice().sort((a, b) => a - b);
  const result: LevelResult = {
    streams,
    runningP50: percentile(sortedRunning, 50),
    runningMin: sortedRunning[0] ?? 0,
    loopLagP50Ms: whole.percentile(50) / 1e6,
    loopLagP99Ms: whole.percentile(99) / 1e6,
    loopLagMaxMs: whole.max / 1e6,
    chunksPerSecond: report.chunks / seconds,
    cpuPct,
    failed: report.failed,
    timeline,
  };
  ctx.progress(
    `${streams} streams: running p50 ${result.runningP50} (min ${result.runningMin}), loop lag p50 ` +
      `${result.loopLagP50Ms.toFixed(2)} ms p99 ${result.loopLagP99Ms.toFixed(2)} ms, ${result.chunksPerSecond.toFixed(0)} chunks/s, CPU ${result.cpuPct.toFixed(0)}%, ` +
      `${result.failed} failed`,
  );
  return result;
}

/** Event-loop delay of this process doing nothing: what the host alone costs. */
async function idleLag(seconds: number): Promise<{ p50: number; p99: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  h.disable();
  return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6 };
}

const bench: Benchmark = {
  async run(ctx) {
    const seconds = ctx.quick ? 14 : 40;
    const warmup = ctx.quick ? 4 : 8;
    const load1 = os.loadavg()[0] ?? 0;
    const idle = await idleLag(ctx.quick ? 3 : 8);
    ctx.progress(
      `idle process: loop lag p50 ${idle.p50.toFixed(2)} ms p99 ${idle.p99.toFixed(2)} ms (load ${load1.toFixed(1)})`,
    );
    const levels = [500, 2000];
    const results: LevelResult[] = [];
    for (const n of levels) results.push(await runLevel(ctx, n, seconds, warmup));
    const target = results[results.length - 1] as LevelResult;
    const small = results[0] as LevelResult;
    return {
      params: {
        profile: "h100-8b",
        levels,
        seconds,
        warmupSeconds: warmup,
        maxTokensPerStream: 4000,
        speedup: 1,
        host_load_average_1m_at_start: load1,
        host_load_average_1m_at_end: os.loadavg()[0] ?? 0,
        note:
          "simulator in the bench process, streaming client in a child process at nice 10; " +
          "lag = monitorEventLoopDelay (1 ms resolution) over the window after warm-up",
      },
      summary: {
        concurrent_streams: target.runningMin,
        loop_lag_p99_ms: target.loopLagP99Ms,
        loop_lag_p50_ms: target.loopLagP50Ms,
        chunks_per_second: target.chunksPerSecond,
        simulator_cpu_pct: target.cpuPct,
        idle_loop_lag_p99_ms: idle.p99,
        failed_streams: target.failed,
        lag_p99_ratio_vs_500_streams: target.loopLagP99Ms / small.loopLagP99Ms,
      },
      series: { levels: results },
    };
  },
  plot(result: BenchResult): TopLevelSpec {
    const levels = (result.series.levels as LevelResult[]).flatMap((l) =>
      l.timeline.flatMap((p) => [
        { level: `${l.streams} streams`, t: p.t, measure: "running streams", value: p.running },
        { level: `${l.streams} streams`, t: p.t, measure: "loop lag p99 (ms, per 0.5 s)", value: p.lagP99Ms },
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
