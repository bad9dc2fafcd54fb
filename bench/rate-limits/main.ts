// Rate limits shared by two router replicas: one user's RPM and TPM (streaming) enforced through one Redis while
// 500 req/s are spread over both replicas. Real router processes, real Redis, real simulator engine.
//
// A third phase kills Redis mid-run and restarts it: redis_outage_failed_requests counts requests that got anything
// but 200 (fail-open: none should), redis_recovered_replicas how many replicas were back on Redis afterwards.
//
// rpm_error_pct = |requests admitted in the first window − rpm| / rpm · 100 (likewise tpm_error_pct with the tokens
// the engine reported in `usage`), counted from the replicas' own records of what they admitted and when. Load runs
// for WINDOWS consecutive windows (aligned at the first admission); the worst over- and under-admission among them is
// reported beside the first window's error, and the worst sliding window at any offset. The window is 60 s (a real
// minute); --quick uses a 5 s window with limits scaled to it.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import type { TopLevelSpec } from "vega-lite";
import { endpointEntry, endpointFileText, startSimulator } from "../../simulator/index.js";
import { startRedis } from "../../test/support/redis-server.js";
import type { Benchmark, BenchContext, BenchResult } from "../lib/result.js";
import { runRounds } from "../lib/rounds.js";
import { medianOfRounds } from "../lib/stats.js";
import { stopChild } from "../lib/child.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const MODEL = "bench-model";
/** Consecutive limit windows each load phase covers. */
const WINDOWS = 3;
/** Rounds, each on fresh processes; the summary is their median. */
const ROUNDS = 3;

interface Replica {
  child: ChildProcess;
  port: number;
  adminPort: number;
  pool: Pool;
}

interface Sample {
  /** Client send time (performance.now) or, for limiter records, entry time (epoch ms). */
  sentAt: number;
  user?: string;
  replica: number;
  status: number;
  tokens: number;
  /** completion_tokens from `usage` (client samples only). */
  outputTokens?: number;
}

/**
 * Stop strings for the TPM phase: common words of the simulator's replies, so outputs end before `max_tokens` at
 * varied lengths (with `min_tokens` = request index mod 8) and the limiter's refund of unused reserved tokens runs.
 */
const STOP_WORDS = [" the", " of", " and", " to", " in", " is", " it", " was", " for", " on"];

async function startReplica(env: Record<string, string>): Promise<Replica> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "replica.ts")], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("replica did not start in 60 s")), 60_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    child.once("exit", (code) => reject(new Error(`replica exited with ${code}`)));
  });
  const { port, adminPort } = JSON.parse(line) as { port: number; adminPort: number };
  return { child, port, adminPort, pool: new Pool(`http://127.0.0.1:${port}`, { connections: 128 }) };
}

async function stopReplica(r: Replica): Promise<void> {
  if (!r.pool.closed && !r.pool.destroyed) await r.pool.close();
  await stopChild(r.child, 5000);
}

async function send(
  r: Replica,
  index: number,
  user: string,
  stream: boolean,
  maxTokens: number,
  stop?: readonly string[],
): Promise<Sample> {
  const sentAt = performance.now();
  const body = {
    model: MODEL,
    messages: [{ role: "user", content: `request ${index}: please summarise the quarterly report in a few words` }],
    max_tokens: maxTokens,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
    ...(stop ? { stop, min_tokens: Math.min(index % 8, maxTokens) } : {}),
  };
  try {
    const res = await r.pool.request({
      path: "/v1/chat/completions",
      method: "POST",
      headers: { "content-type": "application/json", user },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    let tokens = 0;
    let outputTokens: number | undefined;
    if (res.statusCode === 200) {
      const m = [...text.matchAll(/"total_tokens":(\d+)/g)].at(-1);
      tokens = m ? Number(m[1]) : 0;
      const out = [...text.matchAll(/"completion_tokens":(\d+)/g)].at(-1);
      outputTokens = out ? Number(out[1]) : undefined;
    }
    return {
      sentAt,
      replica: 0,
      status: res.statusCode,
      tokens,
      ...(outputTokens !== undefined ? { outputTokens } : {}),
    };
  } catch {
    return { sentAt, replica: 0, status: -1, tokens: 0 };
  }
}

/** Open loop: `rate` requests per second for `durationMs`, alternating between replicas. */
async function load(
  replicas: Replica[],
  rate: number,
  durationMs: number,
  user: string,
  stream: boolean,
  maxTokens: number,
  stop?: readonly string[],
): Promise<{ samples: Sample[]; t0: number }> {
  const t0 = performance.now();
  const inflight: Array<Promise<Sample>> = [];
  let sent = 0;
  while (performance.now() - t0 < durationMs) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (sent < due) {
      const i = sent++;
      const r = replicas[i % replicas.length]!;
      inflight.push(send(r, i, user, stream, maxTokens, stop).then((s) => ({ ...s, replica: i % replicas.length })));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  return { samples: await Promise.all(inflight), t0 };
}

function firstWindow(samples: Sample[], t0: number, windowMs: number, value: (s: Sample) => number): number {
  return samples.filter((s) => s.status === 200 && s.sentAt - t0 < windowMs).reduce((a, s) => a + value(s), 0);
}

/** Totals of `count` consecutive windows of `windowMs` from `t0`. */
function consecutiveWindows(
  samples: Sample[],
  t0: number,
  windowMs: number,
  count: number,
  value: (s: Sample) => number,
): number[] {
  const totals = new Array<number>(count).fill(0);
  for (const s of samples) {
    const k = Math.floor((s.sentAt - t0) / windowMs);
    if (s.status === 200 && k >= 0 && k < count) totals[k]! += value(s);
  }
  return totals;
}

/** Worst over- and under-admission among windows, as % of the limit (0 when none). Offered load always exceeds it. */
function windowErrors(totals: number[], limit: number): { overPct: number; underPct: number } {
  const over = Math.max(0, ...totals.map((t) => t - limit));
  const under = Math.max(0, ...totals.map((t) => limit - t));
  return { overPct: round((over / limit) * 100), underPct: round((under / limit) * 100) };
}

/** Largest total inside any window of `windowMs` (by send time), as a share of the limit. */
function maxSliding(samples: Sample[], windowMs: number, value: (s: Sample) => number): number {
  const ok = samples.filter((s) => s.status === 200).sort((a, b) => a.sentAt - b.sentAt);
  let best = 0;
  let sum = 0;
  let lo = 0;
  for (let hi = 0; hi < ok.length; hi++) {
    sum += value(ok[hi]!);
    while (ok[hi]!.sentAt - ok[lo]!.sentAt >= windowMs) sum -= value(ok[lo++]!);
    best = Math.max(best, sum);
  }
  return best;
}

function perSecond(samples: Sample[], t0: number, value: (s: Sample) => number): Array<{ t: number; v: number }> {
  const bins = new Map<number, number>();
  for (const s of samples) {
    if (s.status !== 200) continue;
    const t = Math.floor((s.sentAt - t0) / 1000);
    bins.set(t, (bins.get(t) ?? 0) + value(s));
  }
  return [...bins.entries()].sort((a, b) => a[0] - b[0]).map(([t, v]) => ({ t, v }));
}

/** The load, limits and window of a run: a minute's window, or 5 s with limits scaled to it under --quick. */
function settings(quick: boolean) {
  const windowMs = quick ? 5_000 : 60_000;
  return {
    windowMs,
    durationMs: WINDOWS * windowMs + windowMs / 4,
    rate: 500,
    rpm: quick ? 250 : 3000, // per window
    tpm: quick ? 10_000 : 120_000,
    maxTokens: 16,
    outageMs: quick ? 4000 : 8000,
  };
}

interface RoundFigures {
  summary: Record<string, number>;
  series: Record<string, unknown>;
}

/** One round on fresh processes: Redis, one engine and two replicas started for it and stopped after it. */
async function measureRound(ctx: BenchContext): Promise<RoundFigures> {
  const { windowMs, durationMs, rate, rpm, tpm, maxTokens, outageMs } = settings(ctx.quick);
  const dir = await mkdtemp(path.join(os.tmpdir(), "bench-rate-limits-"));
  const redis = await startRedis();
  const sim = await startSimulator({ model: MODEL, speedup: 50, maxNumSeqs: 1024 });
  const replicas: Replica[] = [];
  try {
    const file = path.join(dir, "endpoints.yaml");
    await writeFile(file, endpointFileText([endpointEntry(sim)]));
    const env = { REDIS_URL: redis.url, ENDPOINTS_FILE: file, WINDOW_MS: String(windowMs) };
    const logs = [0, 1].map((i) => path.join(dir, `admitted-${i}.json`));
    replicas.push(...(await Promise.all(logs.map((f) => startReplica({ ...env, ENTRIES_FILE: f })))));
    ctx.progress(`replicas on ports ${replicas.map((r) => r.port).join(", ")}; redis ${redis.url}`);
    const admin = `http://127.0.0.1:${replicas[0]!.adminPort}`;
    for (const [name, body] of [
      ["rpm-user", { name: "rpm-user", rpm }],
      ["tpm-user", { name: "tpm-user", tpm }],
    ] as const) {
      const res = await fetch(`${admin}/v1/users`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (res.status !== 201) throw new Error(`creating ${name}: ${res.status} ${await res.text()}`);
    }
    // Warm connections and code paths on both replicas with an unlimited user.
    await Promise.all(replicas.flatMap((r) => Array.from({ length: 20 }, (_, i) => send(r, i, "warm", false, 2))));

    ctx.progress(`RPM: ${rate} req/s for ${durationMs / 1000}s, limit ${rpm} per ${windowMs / 1000}s`);
    const rpmRun = await load(replicas, rate, durationMs, "rpm-user", false, maxTokens);
    ctx.progress(
      `TPM (streaming): ${rate} req/s for ${durationMs / 1000}s, limit ${tpm} tokens per ${windowMs / 1000}s`,
    );
    const tpmRun = await load(replicas, rate, durationMs, "tpm-user", true, maxTokens, STOP_WORDS);

    // Redis killed and restarted under the same load: every request must still get an answer, and both replicas
    // must be back on shared state afterwards.
    const downAt = outageMs / 4;
    ctx.progress(
      `Redis outage: ${rate} req/s for ${outageMs / 1000}s, Redis killed at ${downAt / 1000} s for ${downAt / 1000} s`,
    );
    const outage = load(replicas, rate, outageMs, "outage-user", false, 4);
    await new Promise((r) => setTimeout(r, downAt));
    await redis.stop();
    await new Promise((r) => setTimeout(r, downAt));
    await redis.restart();
    const outageRun = await outage;
    let recovered = 0;
    for (let i = 0; i < 100 && recovered < replicas.length; i++) {
      const states = await Promise.all(
        replicas.map(async (r) => {
          const h = (await (await fetch(`http://127.0.0.1:${r.adminPort}/healthz`)).json()) as { redis: string };
          return h.redis === "up";
        }),
      );
      recovered = states.filter(Boolean).length;
      if (recovered < replicas.length) await new Promise((r) => setTimeout(r, 100));
    }

    // What the limiters admitted, by their own clock (both replicas share this machine's clock).
    await Promise.all(replicas.map(stopReplica));
    const server: Array<Sample> = [];
    for (const [i, f] of logs.entries()) {
      const rows = JSON.parse(await readFile(f, "utf8")) as Array<[string, number, number]>;
      for (const [user, at, tokens] of rows) server.push({ sentAt: at, replica: i, status: 200, tokens, user });
    }
    const of = (user: string) => server.filter((x) => x.user === user);
    const start = (rows: Sample[]) => Math.min(...rows.map((x) => x.sentAt));
    const rpmRows = of("rpm-user");
    const tpmRows = of("tpm-user");
    const count = () => 1;
    const tokens = (x: Sample) => x.tokens;
    const rpmAdmitted = firstWindow(rpmRows, start(rpmRows), windowMs, count);
    const tpmAdmitted = firstWindow(tpmRows, start(tpmRows), windowMs, tokens);
    const failed = [...rpmRun.samples, ...tpmRun.samples].filter((x) => x.status !== 200 && x.status !== 429).length;
    const rpmWindows = consecutiveWindows(rpmRows, start(rpmRows), windowMs, WINDOWS, count);
    const tpmWindows = consecutiveWindows(tpmRows, start(tpmRows), windowMs, WINDOWS, tokens);
    const rpmErrors = windowErrors(rpmWindows, rpm);
    const tpmErrors = windowErrors(tpmWindows, tpm);
    const perReplica = [0, 1].map(
      (i) => rpmRows.filter((x) => x.replica === i && x.sentAt - start(rpmRows) < windowMs).length,
    );
    // The client's view (by send time) for comparison: queueing in the load generator blurs it on short windows.
    const clientRpm = firstWindow(rpmRun.samples, rpmRun.t0, windowMs, count);
    // Evidence that the refund path ran: TPM outputs shorter than the max_tokens reserved on entry.
    const tpmOutputs = tpmRun.samples.filter((x) => x.status === 200 && x.outputTokens !== undefined);
    const shortOutputs = tpmOutputs.filter((x) => x.outputTokens! < maxTokens).length;
    return {
      summary: {
        rpm_error_pct: round((Math.abs(rpmAdmitted - rpm) / rpm) * 100),
        tpm_error_pct: round((Math.abs(tpmAdmitted - tpm) / tpm) * 100),
        rpm_admitted_first_window: rpmAdmitted,
        tpm_tokens_first_window: tpmAdmitted,
        rpm_worst_window_over_pct: rpmErrors.overPct,
        rpm_worst_window_under_pct: rpmErrors.underPct,
        tpm_worst_window_over_pct: tpmErrors.overPct,
        tpm_worst_window_under_pct: tpmErrors.underPct,
        rpm_max_sliding_window_pct: round((maxSliding(rpmRows, windowMs, count) / rpm) * 100),
        tpm_max_sliding_window_pct: round((maxSliding(tpmRows, windowMs, tokens) / tpm) * 100),
        tpm_outputs_below_max_tokens_share: tpmOutputs.length > 0 ? round(shortOutputs / tpmOutputs.length) : 0,
        tpm_output_tokens_mean: tpmOutputs.length
          ? round(tpmOutputs.reduce((a, x) => a + x.outputTokens!, 0) / tpmOutputs.length)
          : 0,
        rpm_admitted_first_window_client_view: clientRpm,
        rpm_admitted_replica_a: perReplica[0]!,
        rpm_admitted_replica_b: perReplica[1]!,
        requests_sent: rpmRun.samples.length + tpmRun.samples.length,
        requests_failed: failed,
        redis_outage_requests: outageRun.samples.length,
        redis_outage_failed_requests: outageRun.samples.filter((x) => x.status !== 200).length,
        redis_recovered_replicas: recovered,
      },
      series: {
        rpm_per_window: rpmWindows,
        tpm_per_window: tpmWindows,
        rpm_per_second: perSecond(rpmRows, start(rpmRows), count),
        tpm_per_second: perSecond(tpmRows, start(tpmRows), tokens),
      },
    };
  } finally {
    await Promise.all(replicas.map(stopReplica));
    await sim.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Figures whose spread over rounds the result reports beside the median. */
const SPREAD_KEYS = [
  "rpm_error_pct",
  "tpm_error_pct",
  "rpm_max_sliding_window_pct",
  "tpm_max_sliding_window_pct",
  "tpm_outputs_below_max_tokens_share",
];

/** Worst-case figures also reported as their worst round (`<key>_worst_round`): one bad round must show. */
const WORST_KEYS = [
  "rpm_worst_window_over_pct",
  "rpm_worst_window_under_pct",
  "tpm_worst_window_over_pct",
  "tpm_worst_window_under_pct",
  "rpm_max_sliding_window_pct",
  "tpm_max_sliding_window_pct",
  "requests_failed",
  "redis_outage_failed_requests",
];

async function run(ctx: BenchContext): Promise<Omit<BenchResult, "name" | "date" | "machine">> {
  const roundCount = ctx.quick ? 1 : ROUNDS;
  const rounds = await runRounds(ctx, roundCount, () => measureRound(ctx));
  const summary = medianOfRounds(
    rounds.map((r) => r.figures.summary),
    SPREAD_KEYS,
  );
  for (const key of WORST_KEYS) {
    summary[`${key}_worst_round`] = Math.max(...rounds.map((r) => r.figures.summary[key] ?? NaN));
  }
  summary.rounds = rounds.length;
  const { windowMs, durationMs, rate, rpm, tpm, maxTokens } = settings(ctx.quick);
  return {
    params: {
      windowMs,
      windows: WINDOWS,
      rounds: rounds.length,
      durationMs,
      offeredRps: rate,
      replicas: 2,
      rpm,
      tpm,
      maxTokens,
      tpmStop: STOP_WORDS,
      tpmMinTokens: "request index mod 8",
      model: MODEL,
      aggregation: "true median over rounds of each round's figure; each round on fresh Redis, engine and replicas",
      quick: ctx.quick,
    },
    summary,
    // The plot shows the first round; every round's figures and load are kept.
    series: {
      ...rounds[0]!.figures.series,
      rounds: rounds.map((r) => ({ round: r.round, load1m: r.load1m, summary: r.figures.summary })),
    },
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function plot(result: BenchResult): TopLevelSpec {
  const windowS = Number(result.params.windowMs) / 1000;
  const cumulative = (rows: Array<{ t: number; v: number }>, limit: number, phase: string) => {
    let acc = 0;
    return rows.map((r) => {
      acc += r.v;
      return { t: r.t + 1, share: acc / limit, phase };
    });
  };
  const values = [
    ...cumulative(result.series.rpm_per_second as Array<{ t: number; v: number }>, Number(result.params.rpm), "RPM"),
    ...cumulative(result.series.tpm_per_second as Array<{ t: number; v: number }>, Number(result.params.tpm), "TPM"),
  ];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: `Admitted by two replicas sharing Redis (cumulative, / limit per ${windowS}s window) at 500 req/s`,
    width: 640,
    height: 320,
    layer: [
      {
        data: { values },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "t", type: "quantitative", title: "seconds since start" },
          y: { field: "share", type: "quantitative", title: "admitted / limit" },
          color: { field: "phase", type: "nominal" },
        },
      },
      {
        data: { values: [{ y: 1 }, { y: 2 }] },
        mark: { type: "rule", strokeDash: [4, 4] },
        encoding: { y: { field: "y", type: "quantitative" } },
      },
    ],
  };
}

const bench: Benchmark = { run, plot };
export default bench;
