// soak: an hour of steady mixed traffic through the router, the admission webhooks and the scheduler extender, each
// in its own process, sampling each one's resident memory, heap and event-loop lag from its own /metrics. The check
// is that nothing grows: a leak shows as memory still climbing after warm-up, a slow path as event-loop lag.
//
// Traffic (open loop, fixed before measuring):
// - router, 40 req/s over two simulated engines: chat (half of it streamed), completions, a malformed body, an
//   unknown model, and streams the client abandons after the first chunk;
// - a second router with kv-prefix-load, the strategy whose caches (prompt ids, block keys, the KV index fed by the
//   engines' events) hold the most, 20 req/s over two engines publishing KV events: questions on documents that keep
//   changing (a new set every 30 s, so every cache has to let old ones go), conversations, and prompts nobody repeats;
// - webhooks, 50 AdmissionReviews/s (HTTPS): engine pods to mutate and custom resources to validate, a quarter invalid;
// - extender, 20 scheduling cycles/s (filter then prioritize) over a 1,000-node fleet, kube-scheduler-shaped lists.
// Growth = the median of the last 10 % of samples over the median of the samples from 40 % to 50 % of the run
// (after warm-up: the kv-prefix-load router's caches take about 20 minutes to fill, its routed-block history keeping
// blocks that long), per process; heap growth reads the heap left after the last full collection, which garbage
// does not inflate. Lag = the worst per-scrape p99 after warm-up. --quick runs two minutes, too short
// for growth to mean anything: it shows the harness works.
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import type { TopLevelSpec } from "vega-lite";
import { stopChild } from "../lib/child.js";
import type { Benchmark, BenchContext, BenchResult } from "../lib/result.js";
import { median } from "../lib/stats.js";
import { freePort, startEngines, startOurRouter, type Proc } from "../router-common/processes.js";
import { BENCH_POD_GPUS, benchPod, buildFleet } from "../extender-latency/fleet.js";
import { schedulerLists } from "../extender-latency/scheduler-lists.js";
import { documentText } from "../router-overhead/workload.js";
import { crRequests, enginePod, review, type Req } from "../webhook-latency/reviews.js";
import { TARGETS } from "./readme.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const MODEL = "soak-model";
const RATES = { router: 40, routerKv: 20, webhooks: 50, extender: 20 };
const FLEET_NODES = 1000;

interface Sample {
  second: number;
  process: string;
  rssMiB: number;
  heapMiB: number;
  /** The heap left after the process's last full collection (NaN before its first). */
  liveHeapMiB: number;
  lagP99Ms: number;
}

interface Target {
  name: string;
  metricsUrl: string;
  dispatcher?: Agent;
}

/** One value of a metric in Prometheus text (the first series of that name). */
function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

async function sample(t: Target, second: number): Promise<Sample> {
  const res = await request(t.metricsUrl, { dispatcher: t.dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const text = await res.body.text();
  return {
    second,
    process: t.name,
    rssMiB: metric(text, "process_resident_memory_bytes") / 2 ** 20,
    heapMiB: metric(text, "nodejs_heap_size_used_bytes") / 2 ** 20,
    liveHeapMiB: metric(text, "aibrix_heap_after_full_gc_bytes") / 2 ** 20 || NaN,
    lagP99Ms: metric(text, "nodejs_eventloop_lag_p99_seconds") * 1000,
  };
}

/** A command-line deployable in its own process; resolves once `ready` answers. */
async function startCommand(name: string, args: string[], ready: () => Promise<boolean>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: repo,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}): ${stderr}`);
    if (await ready().catch(() => false)) return child;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} not ready after 60 s: ${stderr}`);
}

async function startExtenderProcess(now: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(repo, "bench", "extender-latency", "server.ts"),
      String(FLEET_NODES),
      String(now),
      "--process-metrics",
    ],
    { cwd: repo, stdio: ["ignore", "pipe", "inherit"] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface(child.stdout!).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`extender process exited (${code})`)));
  });
  const { port } = JSON.parse(line) as { port: number };
  return { child, url: `http://127.0.0.1:${port}` };
}

/** Sends `send(i)` at `rate` per second until `stop` aborts; counts answers by outcome. */
async function openLoop(
  rate: number,
  stop: AbortSignal,
  send: (i: number) => Promise<string>,
  tally: Map<string, number>,
) {
  const t0 = performance.now();
  const inflight = new Set<Promise<void>>();
  let sent = 0;
  while (!stop.aborted) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (sent < due) {
      const p: Promise<void> = send(sent++)
        .catch((err: unknown) => `error: ${err instanceof Error ? err.message.slice(0, 60) : String(err)}`)
        .then((outcome) => {
          tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
          inflight.delete(p);
        });
      inflight.add(p);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(inflight);
}

/** The router's mix: each request's kind by its index. */
async function routerRequest(url: string, i: number): Promise<string> {
  const kind = i % 20;
  const chat = (stream: boolean) => ({
    model: MODEL,
    messages: [{ role: "user", content: `question ${i}: what changed in release ${i % 97}?` }],
    max_tokens: 16 + (i % 48),
    stream,
  });
  let body: string;
  if (kind < 8) body = JSON.stringify(chat(false));
  else if (kind < 16) body = JSON.stringify(chat(true));
  else if (kind === 16) body = JSON.stringify({ model: MODEL, prompt: `complete ${i}:`, max_tokens: 24 });
  else if (kind === 17) body = `{"model": "${MODEL}", "messages": [`;
  else if (kind === 18) body = JSON.stringify({ ...chat(false), model: "no-such-model" });
  else body = JSON.stringify(chat(true));
  const path = kind === 16 ? "/v1/completions" : "/v1/chat/completions";
  const abandon = new AbortController();
  const res = await request(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", user: `tenant-${i % 7}` },
    body,
    signal: abandon.signal,
  });
  if (kind === 19) {
    // Walk away after the first chunk: the router must clean up the upstream stream.
    for await (const _ of res.body) break;
    abandon.abort();
    return `${res.statusCode} abandoned`;
  }
  await res.body.text();
  return String(res.statusCode);
}

/** Documents asked about at once; the set moves on every DOCUMENT_SET_REQUESTS requests (30 s at 20 req/s). */
const DOCUMENTS_AT_ONCE = 4;
const DOCUMENT_SET_REQUESTS = 600;

/** The kv-prefix-load router's mix, by index: what its prompt caches and KV index see over an hour. */
async function kvRouterRequest(url: string, i: number): Promise<string> {
  const kind = i % 10;
  let path = "/v1/completions";
  let body: string;
  if (kind < 6) {
    // A question on one of the documents of the moment: a shared prefix and a tail only this request has.
    const doc = Math.floor(i / DOCUMENT_SET_REQUESTS) * DOCUMENTS_AT_ONCE + (i % DOCUMENTS_AT_ONCE);
    const prompt = `Document ${doc}: ${documentText(doc + 1, 400)}\n\nQuestion ${i}: what is it about?`;
    body = JSON.stringify({ model: MODEL, prompt, max_tokens: 8 });
  } else if (kind < 9) {
    // A turn of one of 16 conversations of the moment; each grows to 8 turns, then a new one takes its place.
    const conversation = (i % 16) + 16 * Math.floor(i / 128);
    const turn = Math.floor(i / 16) % 8;
    const messages = Array.from({ length: turn + 1 }, (_, t) => [
      { role: "user", content: `conversation ${conversation}, turn ${t}: ${documentText(conversation * 8 + t, 40)}?` },
      ...(t < turn ? [{ role: "assistant", content: documentText(conversation * 8 + t + 5000, 30) }] : []),
    ]).flat();
    path = "/v1/chat/completions";
    body = JSON.stringify({ model: MODEL, messages, max_tokens: 8, stream: kind === 8 });
  } else {
    // Nothing anyone sent before or will again.
    body = JSON.stringify({
      model: MODEL,
      prompt: `note ${i}: ${documentText(100_000 + i, 60)} ${i * 7919}`,
      max_tokens: 8,
    });
  }
  const res = await request(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", user: `tenant-${i % 7}` },
    body,
  });
  await res.body.text();
  return String(res.statusCode);
}

/** Where the growth baseline's window starts and ends, as fractions of the run (see the file comment). */
const BASELINE = [0.4, 0.5] as const;

function growthPct(samples: Sample[], pick: (s: Sample) => number): number {
  const n = samples.length;
  const [from, to] = BASELINE.map((f) => Math.floor(n * f)) as [number, number];
  const values = (xs: Sample[]) => xs.map(pick).filter((v) => Number.isFinite(v));
  const base = values(samples.slice(from, Math.max(to, from + 1)));
  const end = values(samples.slice(Math.floor(n * 0.9)));
  return Math.round((median(end) / median(base) - 1) * 1000) / 10;
}

async function run(ctx: BenchContext): Promise<Omit<BenchResult, "name" | "date" | "machine">> {
  const durationS = ctx.quick ? 120 : 3600;
  const sampleEveryS = ctx.quick ? 2 : 10;
  const now = Date.now();
  const stoppers: Array<() => Promise<void>> = [];
  const loadAtStart = os.loadavg()[0]!;
  try {
    ctx.progress("starting two simulated engines, the router, the webhooks and the extender");
    const engines = await startEngines({ model: MODEL, replicas: 2, speedup: 20 });
    stoppers.push(() => engines.proc.stop());
    const router: Proc = await startOurRouter(engines, MODEL, "least-request");
    stoppers.push(() => router.stop());
    const kvEngines = await startEngines({ model: MODEL, replicas: 2, speedup: 20, kvEvents: true });
    stoppers.push(() => kvEngines.proc.stop());
    const kvRouter: Proc = await startOurRouter(kvEngines, MODEL, "kv-prefix-load");
    stoppers.push(() => kvRouter.stop());
    const webhookPort = await freePort();
    const webhookUrl = `https://127.0.0.1:${webhookPort}`;
    // The certificate lives in the webhooks' memory (no cluster to publish a CA bundle to): trust it unverified.
    const tls = new Agent({ connect: { rejectUnauthorized: false }, connections: 32 });
    const webhooks = await startCommand(
      "webhooks",
      ["webhooks", "--no-cluster", "--host", "127.0.0.1", "--port", String(webhookPort), "--log-level", "warn"],
      async () => (await request(`${webhookUrl}/healthz`, { dispatcher: tls })).statusCode === 200,
    );
    stoppers.push(() => stopChild(webhooks));
    const extender = await startExtenderProcess(now);
    stoppers.push(() => stopChild(extender.child));

    const reviews: Req[] = [
      ...Array.from({ length: 16 }, (_, i) => ({
        method: "POST" as const,
        path: "/mutate-v1-pod",
        body: review(i, enginePod(i)),
      })),
      ...crRequests(),
    ];
    const fleet = buildFleet(FLEET_NODES, now);
    const names = fleet.nodes.map((n) => n.metadata!.name!);
    const lists = schedulerLists(
      names,
      fleet.freeGpus.map((f) => f >= BENCH_POD_GPUS),
      64,
    );
    const pod = benchPod();
    const tally = {
      router: new Map<string, number>(),
      routerKv: new Map<string, number>(),
      webhooks: new Map<string, number>(),
      extender: new Map<string, number>(),
    };
    const stop = new AbortController();
    const loops = [
      openLoop(RATES.router, stop.signal, (i) => routerRequest(router.url, i), tally.router),
      openLoop(RATES.routerKv, stop.signal, (i) => kvRouterRequest(kvRouter.url, i), tally.routerKv),
      openLoop(
        RATES.webhooks,
        stop.signal,
        async (i) => {
          const r = reviews[i % reviews.length]!;
          const res = await request(`${webhookUrl}${r.path}`, {
            method: "POST",
            dispatcher: tls,
            headers: { "content-type": "application/json" },
            body: r.body,
          });
          await res.body.text();
          return String(res.statusCode);
        },
        tally.webhooks,
      ),
      openLoop(
        RATES.extender,
        stop.signal,
        async (i) => {
          const filter = await request(`${extender.url}/scheduler/filter`, {
            method: "POST",
            body: JSON.stringify({ Pod: pod, Nodes: null, NodeNames: lists[i % lists.length] }),
          });
          const passed = (await filter.body.json()) as { NodeNames?: string[] | null };
          const prio = await request(`${extender.url}/scheduler/prioritize`, {
            method: "POST",
            body: JSON.stringify({ Pod: pod, Nodes: null, NodeNames: passed.NodeNames ?? [] }),
          });
          await prio.body.text();
          return `${filter.statusCode}/${prio.statusCode}`;
        },
        tally.extender,
      ),
    ];
    const targets: Target[] = [
      { name: "router", metricsUrl: `${router.url}/metrics` },
      { name: "router_kv", metricsUrl: `${kvRouter.url}/metrics` },
      { name: "webhooks", metricsUrl: `${webhookUrl}/metrics`, dispatcher: tls },
      { name: "extender", metricsUrl: `${extender.url}/metrics` },
    ];
    const samples: Sample[] = [];
    const t0 = performance.now();
    for (let next = 0; next <= durationS; next += sampleEveryS) {
      const wait = t0 + next * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      for (const t of targets) samples.push(await sample(t, next));
      if (next % 60 === 0) {
        const last = samples.slice(-targets.length);
        ctx.progress(
          `${next}s/${durationS}s: ` +
            last
              .map(
                (s) =>
                  `${s.process} rss ${s.rssMiB.toFixed(0)} MiB heap ${s.heapMiB.toFixed(0)} MiB (after full GC ${s.liveHeapMiB.toFixed(0)}) lag p99 ${s.lagP99Ms.toFixed(1)} ms`,
              )
              .join("; "),
        );
      }
    }
    stop.abort();
    await Promise.all(loops);

    const summary: Record<string, number> = {};
    for (const t of targets) {
      const mine = samples.filter((s) => s.process === t.name);
      summary[`${t.name}_rss_growth_pct`] = growthPct(mine, (s) => s.rssMiB);
      summary[`${t.name}_heap_growth_pct`] = growthPct(mine, (s) => s.liveHeapMiB);
      summary[`${t.name}_heap_used_growth_pct`] = growthPct(mine, (s) => s.heapMiB);
      // Start-up (building the fleet, compiling) is not what a soak is about: lag counts after warm-up.
      const warm = mine.slice(Math.floor(mine.length * 0.2));
      summary[`${t.name}_lag_p99_max_ms`] = Math.round(Math.max(...warm.map((s) => s.lagP99Ms)) * 10) / 10;
      summary[`${t.name}_rss_end_mib`] = Math.round(mine.at(-1)!.rssMiB);
      summary[`${t.name}_live_heap_end_mib`] = Math.round(mine.at(-1)!.liveHeapMiB);
    }
    summary.worst_heap_growth_pct = Math.max(...targets.map((t) => summary[`${t.name}_heap_growth_pct`]!));
    summary.worst_rss_growth_pct = Math.max(...targets.map((t) => summary[`${t.name}_rss_growth_pct`]!));
    summary.worst_lag_p99_ms = Math.max(...targets.map((t) => summary[`${t.name}_lag_p99_max_ms`]!));
    const count = (m: Map<string, number>, ok: (k: string) => boolean) =>
      [...m].filter(([k]) => ok(k)).reduce((a, [, v]) => a + v, 0);
    summary.router_requests = count(tally.router, () => true);
    summary.router_unexpected_answers = count(tally.router, (k) => !/^(200|400|404)( abandoned)?$/.test(k));
    summary.router_kv_requests = count(tally.routerKv, () => true);
    summary.router_kv_errors = count(tally.routerKv, (k) => k !== "200");
    summary.webhook_reviews = count(tally.webhooks, () => true);
    summary.webhook_errors = count(tally.webhooks, (k) => k !== "200");
    summary.extender_cycles = count(tally.extender, () => true);
    summary.extender_errors = count(tally.extender, (k) => k !== "200/200");
    return {
      params: {
        durationS,
        sampleEveryS,
        rates: RATES,
        fleetNodes: FLEET_NODES,
        routerMix:
          "per 20 requests: 8 chat, 8 streamed chat, 1 completion, 1 malformed body, 1 unknown model, 1 stream abandoned after its first chunk",
        routerKvMix:
          `kv-prefix-load over engines publishing KV events; per 10 requests: 6 questions on one of ${DOCUMENTS_AT_ONCE} ` +
          `~600-token documents (a new set every ${DOCUMENT_SET_REQUESTS} requests), 3 turns of 16 growing ` +
          "conversations (one streamed; each ends after 8 turns), 1 prompt never repeated",
        webhookMix: "16 engine pods to mutate, then the valid custom-resource fixtures (×3) and as many made invalid",
        growth:
          "median of the last 10 % of samples over the median of samples 40–50 % into the run; heap: the heap left " +
          "after the last full collection (aibrix_heap_after_full_gc_bytes); heap used (garbage included) apart",
        targets: TARGETS,
        loadAverage1mAtStart: loadAtStart,
        quick: ctx.quick,
        answers: Object.fromEntries(Object.entries(tally).map(([k, m]) => [k, Object.fromEntries(m)])),
      },
      summary,
      series: { samples },
    };
  } finally {
    for (const s of stoppers.reverse()) await s().catch(() => {});
  }
}

function plot(result: BenchResult): TopLevelSpec {
  const samples = result.series.samples as Sample[];
  const rows = samples.flatMap((s) => [
    { minute: s.second / 60, process: s.process, series: "resident MiB", value: s.rssMiB },
    { minute: s.second / 60, process: s.process, series: "heap used MiB", value: s.heapMiB },
    { minute: s.second / 60, process: s.process, series: "heap after full GC MiB", value: s.liveHeapMiB },
    { minute: s.second / 60, process: s.process, series: "event-loop lag p99 ms", value: s.lagP99Ms },
  ]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: "Soak: memory and event-loop lag of each process under steady mixed traffic",
    data: { values: rows },
    mark: "line",
    encoding: {
      x: { field: "minute", type: "quantitative", title: "minutes" },
      y: { field: "value", type: "quantitative", title: null },
      color: { field: "process", type: "nominal" },
      row: { field: "series", type: "nominal", title: null },
    },
    resolve: { scale: { y: "independent" } },
    width: 640,
    height: 160,
  } as TopLevelSpec;
}

const bench: Benchmark = { run, plot };
export default bench;
