// Admission latency at a steady 500 requests/s, as the API server would see it: HTTPS keep-alive round trips from a
// separate load process, for pod mutation (sidecar + scheduler) and custom-resource validation, side by side with
// the bare HTTPS floor (GET /healthz on the same server) so the cost of the admission logic itself is visible.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { monitorEventLoopDelay } from "node:perf_hooks";
import hdr from "hdr-histogram-js";
import { pino } from "pino";
import type { TopLevelSpec } from "vega-lite";
import { admit } from "../../webhooks/admission.js";
import { resolveWebhookConfig } from "../../webhooks/config.js";
import { startWebhooks } from "../../webhooks/server.js";
import { median } from "../lib/stats.js";
import { crRequests, enginePod, review, type Req } from "./reviews.js";
import type { Benchmark, BenchResult } from "../lib/result.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const RATE = 500;
// Enough keep-alive connections that the client never queues behind a slow answer (the API server opens more as needed).
const CONNECTIONS = 64;

interface LoadResult {
  measured: number;
  errors: number;
  non2xx: number;
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  senderLagP99Ms: number;
  perSecond: { second: number; count: number; meanMs: number; maxMs: number }[];
}

async function runLoad(args: Record<string, unknown>, dir: string, name: string): Promise<LoadResult> {
  const argsFile = path.join(dir, `${name}.json`);
  writeFileSync(argsFile, JSON.stringify(args));
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "load.ts"), argsFile], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`load generator for ${name} exited with ${code}`);
  return JSON.parse(out.trim()) as LoadResult;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The admission logic alone, in process (parse, mutate or validate, build the response; no HTTP, no TLS): what
 * each request costs us before transport and scheduling, measured call by call.
 */
async function handlerLatency(role: "mutate" | "validate", requests: Req[], count: number) {
  const deps = { config: resolveWebhookConfig(), logger: pino({ level: "silent" }) };
  const bodies = requests.map((r) => Buffer.from(r.body ?? ""));
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (let i = 0; i < count + 500; i++) {
    const t = process.hrtime.bigint();
    await admit(deps, role, bodies[i % bodies.length]!);
    if (i >= 500) h.recordValue(Math.max(1, Math.round(Number(process.hrtime.bigint() - t) / 100))); // 0.1 µs units
  }
  return { p50: h.getValueAtPercentile(50) / 10_000, p99: h.getValueAtPercentile(99) / 10_000 };
}

const bench: Benchmark = {
  async run(ctx) {
    const seconds = ctx.quick ? 6 : 15;
    const warmupSeconds = ctx.quick ? 1 : 3;
    const server = await startWebhooks({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }) });
    const dir = mkdtempSync(path.join(tmpdir(), "webhook-latency-"));
    const caFile = path.join(dir, "ca.pem");
    writeFileSync(caFile, server.caBundle);
    const scenarios: { name: string; requests: Req[] }[] = [
      { name: "https_floor", requests: [{ method: "GET", path: "/healthz" }] },
      {
        name: "pod_mutation",
        requests: Array.from({ length: 16 }, (_, i) => ({
          method: "POST",
          path: "/mutate-v1-pod",
          body: review(i, enginePod(i)),
        })),
      },
      { name: "cr_validation", requests: crRequests() },
    ];
    // Rounds interleave the scenarios so a burst of load from elsewhere on the machine hits all of them alike;
    // the summary takes the median round of each.
    const rounds = ctx.quick ? 1 : 3;
    const handler = {
      pod_mutation: await handlerLatency("mutate", scenarios[1]!.requests, ctx.quick ? 5_000 : 20_000),
      cr_validation: await handlerLatency("validate", scenarios[2]!.requests, ctx.quick ? 5_000 : 20_000),
    };
    ctx.progress(`handler only: ${JSON.stringify(handler)}`);
    const results: Record<string, LoadResult[]> = { https_floor: [], pod_mutation: [], cr_validation: [] };
    const serverSide: Record<string, { p50: number; p99: number; count: number }[]> = {
      https_floor: [],
      pod_mutation: [],
      cr_validation: [],
    };
    const newHistogram = () =>
      hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    // Server-side time (request arrival to response written), to tell the handler's cost from machine noise.
    let current = newHistogram();
    server.server.on("request", (_req, res) => {
      const started = process.hrtime.bigint();
      const into = current;
      res.on("finish", () =>
        into.recordValue(Math.max(1, Math.round(Number(process.hrtime.bigint() - started) / 1000))),
      );
    });
    const loads: number[] = [];
    // Stalls of the server's event loop (GC, the process being descheduled): requests queue unseen meanwhile.
    const loopDelay: Record<string, { p99: number; max: number }[]> = {
      https_floor: [],
      pod_mutation: [],
      cr_validation: [],
    };
    // Server CPU time per request: unlike latency, barely moved by other load on the machine.
    const cpuPerRequestUs: Record<string, number[]> = { https_floor: [], pod_mutation: [], cr_validation: [] };
    try {
      for (let round = 0; round < rounds; round++) {
        for (const s of scenarios) {
          current = newHistogram();
          const eld = monitorEventLoopDelay({ resolution: 1 });
          eld.enable();
          const cpuBefore = process.cpuUsage();
          ctx.progress(
            `round ${round + 1}/${rounds} ${s.name}: ${RATE} req/s for ${seconds} s from a separate process`,
          );
          const r = await runLoad(
            {
              url: server.url,
              caFile,
              rate: RATE,
              seconds,
              warmupSeconds,
              connections: CONNECTIONS,
              requests: s.requests,
            },
            dir,
            `${s.name}-${round}`,
          );
          results[s.name]!.push(r);
          serverSide[s.name]!.push({
            p50: current.getValueAtPercentile(50) / 1000,
            p99: current.getValueAtPercentile(99) / 1000,
            count: current.totalCount,
          });
          eld.disable();
          const cpu = process.cpuUsage(cpuBefore);
          cpuPerRequestUs[s.name]!.push((cpu.user + cpu.system) / Math.max(1, current.totalCount));
          loopDelay[s.name]!.push({ p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 });
          loads.push(os.loadavg()[0] ?? NaN);
          ctx.progress(
            `  p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.achievedRate.toFixed(0)} req/s, errors ${r.errors + r.non2xx}, ` +
              `server p99 ${serverSide[s.name]!.at(-1)!.p99} ms, loop stall max ${loopDelay[s.name]!.at(-1)!.max.toFixed(1)} ms, ` +
              `load ${loads.at(-1)!.toFixed(1)}`,
          );
        }
      }
    } finally {
      await server.close();
    }
    const med = (name: string, f: (r: LoadResult) => number) => median(results[name]!.map(f));
    const medServer = (name: string) => median(serverSide[name]!.map((x) => x.p99));
    const failed = Object.values(results)
      .flat()
      .reduce((n, r) => n + r.errors + r.non2xx, 0);
    return {
      params: {
        rate_rps: RATE,
        seconds_per_round: seconds,
        warmupSeconds,
        rounds,
        connections: CONNECTIONS,
        transport: "HTTPS/1.1 keep-alive, TLS 1.3, loopback; load from a separate process, open loop",
        aggregation: "median over rounds of each round's percentile",
        quick: ctx.quick,
      },
      summary: {
        pod_mutation_p50_ms: round3(med("pod_mutation", (r) => r.p50)),
        pod_mutation_p99_ms: round3(med("pod_mutation", (r) => r.p99)),
        cr_validation_p50_ms: round3(med("cr_validation", (r) => r.p50)),
        cr_validation_p99_ms: round3(med("cr_validation", (r) => r.p99)),
        https_floor_p50_ms: round3(med("https_floor", (r) => r.p50)),
        https_floor_p99_ms: round3(med("https_floor", (r) => r.p99)),
        pod_mutation_p99_over_floor: round3(med("pod_mutation", (r) => r.p99) / med("https_floor", (r) => r.p99)),
        cr_validation_p99_over_floor: round3(med("cr_validation", (r) => r.p99) / med("https_floor", (r) => r.p99)),
        pod_mutation_achieved_rps: round3(med("pod_mutation", (r) => r.achievedRate)),
        cr_validation_achieved_rps: round3(med("cr_validation", (r) => r.achievedRate)),
        failed_requests: failed,
        sender_lag_p99_ms: round3(
          median(
            Object.values(results)
              .flat()
              .map((r) => r.senderLagP99Ms),
          ),
        ),
        pod_mutation_server_p99_ms: round3(medServer("pod_mutation")),
        cr_validation_server_p99_ms: round3(medServer("cr_validation")),
        https_floor_server_p99_ms: round3(medServer("https_floor")),
        pod_mutation_handler_p50_ms: round3(handler.pod_mutation.p50),
        pod_mutation_handler_p99_ms: round3(handler.pod_mutation.p99),
        cr_validation_handler_p50_ms: round3(handler.cr_validation.p50),
        cr_validation_handler_p99_ms: round3(handler.cr_validation.p99),
        pod_mutation_server_cpu_us_per_request: round3(median(cpuPerRequestUs.pod_mutation!)),
        cr_validation_server_cpu_us_per_request: round3(median(cpuPerRequestUs.cr_validation!)),
        https_floor_server_cpu_us_per_request: round3(median(cpuPerRequestUs.https_floor!)),
        server_loop_delay_p99_ms: round3(
          median(
            Object.values(loopDelay)
              .flat()
              .map((x) => x.p99),
          ),
        ),
        server_loop_stall_max_ms: round3(
          Math.max(
            ...Object.values(loopDelay)
              .flat()
              .map((x) => x.max),
          ),
        ),
        machine_load_1m: round3(median(loads)),
      },
      series: { rounds: results, serverSide, loopDelay, cpuPerRequestUs, handler },
    };
  },

  plot(result: BenchResult): TopLevelSpec {
    const rounds = (result.series as { rounds: Record<string, LoadResult[]> }).rounds;
    const rows = Object.entries(rounds).flatMap(([scenario, rs]) =>
      rs.flatMap((r, i) =>
        (["p50", "p90", "p99"] as const).map((q) => ({ scenario, quantile: q, round: i + 1, ms: r[q] })),
      ),
    );
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: `Admission latency at ${RATE} req/s over HTTPS (separate load process)`,
      data: { values: rows },
      encoding: {
        x: { field: "scenario", type: "nominal", title: null },
        xOffset: { field: "quantile" },
        color: { field: "quantile", type: "nominal" },
      },
      layer: [
        {
          mark: "bar",
          encoding: {
            y: {
              aggregate: "median",
              field: "ms",
              type: "quantitative",
              title: "latency (ms, log scale), median of rounds; ticks: each round",
              scale: { type: "log" },
            },
          },
        },
        { mark: { type: "tick", color: "black" }, encoding: { y: { field: "ms", type: "quantitative" } } },
      ],
      width: 420,
      height: 260,
    };
  },
};

export default bench;
