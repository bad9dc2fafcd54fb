// Filter + prioritize latency of the scheduler extender at fleet scale, as kube-scheduler sees it: the extender in its
// own process, one HTTP round trip per verb over loopback keep-alive, the client encoding each request and decoding
// each answer inside the measured time. Each cycle's candidates are the list kube-scheduler would send with the
// chart's configuration (scheduler-lists.ts: adaptive percentageOfNodesToScore, rotating start, 16 workers), as names
// (nodeCacheCapable, what the chart sets) and as full Node objects, side by side; a stress variant sends every node
// reshuffled. Prioritize is sent the nodes that passed the filter, in the filter's order.
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { TopLevelSpec } from "vega-lite";
import type { ExtenderFilterResult, NodeObject, PodObject } from "../../extender/wire.js";
import { stopChild } from "../lib/child.js";
import { RawHttpClient } from "./client.js";
import { median, spread } from "../lib/stats.js";
import { TARGETS } from "./readme.js";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { BENCH_POD_GPUS, benchPod, buildFleet, rng, TYPES } from "./fleet.js";
import { feasibleNodesToFind, schedulerLists } from "./scheduler-lists.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");

/**
 * Scheduling priority of both processes, the same for each, as the other benchmarks here do: unrelated work on a
 * shared machine interferes less. BENCH_NICE overrides (0 = leave as is).
 */
const BENCH_NICE = Number(process.env.BENCH_NICE ?? -5);

/** Node options for the extender process, e.g. `--cpu-prof` to see where its time goes. */
const EXTENDER_NODE_ARGS = (process.env.BENCH_EXTENDER_NODE_ARGS ?? "").split(" ").filter(Boolean);

function prioritize(pid: number | undefined): void {
  if (pid === undefined || BENCH_NICE === 0) return;
  try {
    os.setPriority(pid, BENCH_NICE);
  } catch {
    // Not permitted: run at normal priority.
  }
}

interface ExtenderProcess {
  child: ChildProcess;
  port: number;
  controlPort: number;
}

async function startExtenderProcess(nodes: number, now: number, nodeFlags: string[] = []): Promise<ExtenderProcess> {
  const child = spawn(
    process.execPath,
    [...nodeFlags, ...EXTENDER_NODE_ARGS, "--import", "tsx", path.join(here, "server.ts"), String(nodes), String(now)],
    {
      cwd: repo,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  prioritize(child.pid);
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface(child.stdout!);
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`extender process exited (${code}): ${stderr}`)));
  });
  const { port, controlPort } = JSON.parse(line) as { port: number; controlPort: number };
  return { child, port, controlPort };
}

async function fetchText(url: string, body?: Buffer): Promise<string> {
  const res = await fetch(url, body ? { method: "POST", body } : {});
  return res.text();
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

const sortNum = (xs: number[]) => xs.sort((a, b) => a - b);
const round = (x: number) => Math.round(x * 1000) / 1000;

interface Cell {
  nodes: number;
  mode: Mode;
  /** 1-based; names-only cells are measured in several rounds, interleaved with nothing else. */
  round: number;
  iterations: number;
  requestBytes: number;
  /** Nodes that passed the filter: what prioritize is sent. */
  feasibleNodes: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  filter_p99_ms: number;
  prioritize_p99_ms: number;
  /** The client's own encoding and decoding, both verbs, p50 (inside the cycle times above). */
  client_codec_p50_ms: number;
  /** Extender processing only (body received to answer written), both verbs: no transfer, no client. */
  server_p50_ms: number;
  server_p99_ms: number;
  /** Extender process CPU time (user + system) per filter + prioritize cycle, mean over the cell. */
  server_cpu_ms_per_cycle: number;
}

type Mode = "names-cold" | "names" | "names-gc-flags" | "names-unordered" | "full";
/** The candidate lists a mode sends: the cold and GC-flags cells send the names-only ones. */
type Listing = Exclude<Mode, "names-gc-flags" | "names-cold">;
const MODES: readonly Mode[] = ["names-cold", "names", "names-gc-flags", "names-unordered", "full"];
const MODE_TITLES: Record<Mode, string> = {
  "names-cold": "names-only, first cycles after start",
  names: "names-only",
  "names-gc-flags": "names-only, GC flags",
  "names-unordered": "every node, reshuffled",
  full: "full Nodes",
};

/**
 * V8 flags weighed for the extender's process, measured side by side with the defaults on the names-only lists at the
 * largest fleet (a second extender process, its rounds alternating with the default one's): one GC thread, so a
 * collection never waits for helper threads on a busy machine, and a young generation large enough that a request's
 * garbage is collected less often.
 */
const GC_FLAGS = ["--single-threaded-gc", "--max-semi-space-size=64"];

/**
 * The first cycles after an extender process starts are measured apart (the cold cell), then cycles run for at least
 * WARM_MS before the first round. V8 is still compiling over the first seconds: at 5,000 nodes the extender's user CPU
 * per cycle fell from 0.47 to 0.29 ms over its first three rounds of 1,300 cycles, and after 8,000 warm-up cycles
 * (about 4 s) the next round's p99 was still about twice the later rounds'. Pinning client and extender to separate
 * CPUs changed neither, so it is the process, not the machine.
 */
const COLD_CYCLES = 1000;
const WARM_MS = 10_000;

/** Consecutive scheduling cycles a cell cycles through (each a different candidate list). */
const VARIANTS = 32;

/** One cycle's filter candidates: names, or the Node objects themselves. */
type Candidates = { names: string[] } | { nodes: NodeObject[] };

function encodeArgs(pod: PodObject, c: Candidates): Buffer {
  return Buffer.from(
    JSON.stringify(
      "names" in c
        ? { Pod: pod, Nodes: null, NodeNames: c.names }
        : { Pod: pod, Nodes: { metadata: {}, items: c.nodes }, NodeNames: null },
    ),
  );
}

/**
 * Each mode's candidates per cycle. names / full: kube-scheduler's lists over the fleet, the nodes its own resource
 * filter lets through (free GPUs ≥ the pod's request). names-unordered: every node, in another order each cycle.
 */
function cycleCandidates(n: number, now: number): Record<Listing, Candidates[]> {
  const { nodes, freeGpus } = buildFleet(n, now);
  const names = nodes.map((x) => x.metadata!.name!);
  const byName = new Map(nodes.map((x) => [x.metadata!.name!, x]));
  const lists = schedulerLists(
    names,
    freeGpus.map((free) => free >= BENCH_POD_GPUS),
    VARIANTS,
  );
  const rand = rng(7);
  const shuffled = Array.from({ length: VARIANTS }, () => {
    const list = [...names];
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    return { names: list };
  });
  return {
    names: lists.map((list) => ({ names: list })),
    "names-unordered": shuffled,
    full: lists.map((list) => ({ nodes: list.map((name) => byName.get(name)!) })),
  };
}

/** The prioritize arguments for what the filter answered, in the filter's shape. */
function prioritizeArgs(pod: PodObject, filtered: ExtenderFilterResult): Buffer {
  return encodeArgs(pod, filtered.Nodes ? { nodes: filtered.Nodes.items } : { names: filtered.NodeNames ?? [] });
}

/** A cell's rounds as one: every figure the true median over the rounds (`round` 0), and the rounds' p99 spread. */
function medianCell(cells: readonly Cell[], nodes: number, mode: Cell["mode"]): Cell & { p99_spread_ms: number } {
  const all = cells.filter((c) => c.nodes === nodes && c.mode === mode);
  if (all.length === 0) throw new Error(`no ${mode} cell at ${nodes} nodes`);
  const med = (key: keyof Cell) => round(median(all.map((c) => c[key] as number)));
  const out = { ...all[0]!, round: 0, p99_spread_ms: round(spread(all.map((c) => c.p99_ms))) };
  for (const key of Object.keys(out) as (keyof Cell)[])
    if (typeof out[key] === "number" && !["round", "nodes", "p99_spread_ms"].includes(key))
      (out[key] as number) = med(key);
  return out;
}

/**
 * One round of a cell: `iterations` filter + prioritize cycles over `cycles` against `ext`, on a connection of its own,
 * timed as kube-scheduler sees them, after `warmup` cycles that also last at least `warmupMs`.
 */
async function measureRound(
  ext: ExtenderProcess,
  cycles: Candidates[],
  id: Pick<Cell, "nodes" | "mode" | "round">,
  count: { iterations: number; warmup: number; warmupMs?: number },
): Promise<Cell> {
  const client = new RawHttpClient("127.0.0.1", ext.port);
  const pod = benchPod();
  const cycle: number[] = [];
  const filt: number[] = [];
  const prio: number[] = [];
  const codec: number[] = [];
  let feasible = 0;
  const warmUntil = performance.now() + (count.warmupMs ?? 0);
  let measuring = false;
  try {
    for (let i = 0; cycle.length < count.iterations; i++) {
      if (!measuring && i >= count.warmup && performance.now() >= warmUntil) {
        measuring = true;
        await fetchText(`http://127.0.0.1:${ext.controlPort}/reset`);
      }
      // As kube-scheduler: encode the arguments, send, decode the answer; prioritize what passed.
      const t0 = process.hrtime.bigint();
      const filterBody = encodeArgs(pod, cycles[i % cycles.length]!);
      const e0 = process.hrtime.bigint();
      const filterAnswer = await client.exchange("/scheduler/filter", filterBody);
      const d0 = process.hrtime.bigint();
      const filtered = JSON.parse(filterAnswer.toString()) as ExtenderFilterResult;
      const prioBody = prioritizeArgs(pod, filtered);
      const t1 = process.hrtime.bigint();
      const prioAnswer = await client.exchange("/scheduler/prioritize", prioBody);
      const d1 = process.hrtime.bigint();
      JSON.parse(prioAnswer.toString());
      const t2 = process.hrtime.bigint();
      if (!measuring) continue;
      feasible = filtered.NodeNames?.length ?? filtered.Nodes?.items.length ?? 0;
      filt.push(Number(t1 - t0) / 1e6);
      prio.push(Number(t2 - t1) / 1e6);
      cycle.push(Number(t2 - t0) / 1e6);
      codec.push(Number(e0 - t0 + (t1 - d0) + (t2 - d1)) / 1e6);
    }
  } finally {
    client.close();
  }
  const stats = JSON.parse(await fetchText(`http://127.0.0.1:${ext.controlPort}/stats`)) as {
    times: number[];
    cpuMs: number;
  };
  const server: number[] = [];
  for (let i = 0; i + 1 < stats.times.length; i += 2) server.push(stats.times[i]! + stats.times[i + 1]!);
  sortNum(server);
  const s = sortNum([...cycle]);
  return {
    ...id,
    iterations: count.iterations,
    requestBytes: encodeArgs(pod, cycles[0]!).length,
    feasibleNodes: feasible,
    p50_ms: round(quantile(s, 0.5)),
    p90_ms: round(quantile(s, 0.9)),
    p99_ms: round(quantile(s, 0.99)),
    max_ms: round(s[s.length - 1]!),
    filter_p99_ms: round(quantile(sortNum(filt), 0.99)),
    prioritize_p99_ms: round(quantile(sortNum(prio), 0.99)),
    client_codec_p50_ms: round(quantile(sortNum(codec), 0.5)),
    server_p50_ms: round(quantile(server, 0.5)),
    server_p99_ms: round(quantile(server, 0.99)),
    server_cpu_ms_per_cycle: round(stats.cpuMs / count.iterations),
  };
}

const benchmark: Benchmark = {
  async run(ctx) {
    prioritize(process.pid);
    const sizes = [1000, 5000];
    const iterations = {
      names: ctx.quick ? 150 : 1000,
      "names-unordered": ctx.quick ? 150 : 500,
      full: ctx.quick ? 50 : 300,
    };
    const warmup = { names: 300, "names-unordered": 100, full: 30 };
    // This machine's speed drifts within minutes: every cell is measured in three rounds and the summary gives each
    // figure's true median over them, with the p99 spread.
    const rounds = { names: ctx.quick ? 1 : 3, "names-unordered": ctx.quick ? 1 : 3, full: ctx.quick ? 1 : 3 };
    const now = Date.now();
    const loadAtStart = os.loadavg().map(round);
    const cells: Cell[] = [];
    for (const n of sizes) {
      ctx.progress(`starting the extender with a ${n}-node fleet`);
      const ext = await startExtenderProcess(n, now);
      // The GC-flags arm at the largest fleet only, in a process of its own beside the default one.
      const flagged = n === sizes[sizes.length - 1] ? await startExtenderProcess(n, now, GC_FLAGS) : undefined;
      const candidates = cycleCandidates(n, now);
      const cold = await measureRound(
        ext,
        candidates.names,
        { nodes: n, mode: "names-cold", round: 1 },
        { iterations: COLD_CYCLES, warmup: 0 },
      );
      cells.push(cold);
      ctx.progress(
        `${n} nodes, first ${COLD_CYCLES} cycles after start: p50 ${cold.p50_ms} ms, p99 ${cold.p99_ms} ms, ` +
          `CPU ${cold.server_cpu_ms_per_cycle} ms/cycle; warming ${WARM_MS / 1000} s before the rounds`,
      );
      const listings = MODES.filter((m): m is Listing => m !== "names-gc-flags" && m !== "names-cold");
      for (const mode of listings) {
        for (let pass = 1; pass <= rounds[mode]; pass++) {
          const arms: [ExtenderProcess, Mode][] = [[ext, mode]];
          if (mode === "names" && flagged) arms.push([flagged, "names-gc-flags"]);
          for (const [proc, as] of arms) {
            const cell = await measureRound(
              proc,
              candidates[mode],
              { nodes: n, mode: as, round: pass },
              {
                iterations: iterations[mode],
                warmup: warmup[mode],
                // Each process's first round: on from its cold cell (the default arm) or its start (GC flags).
                ...(mode === "names" && pass === 1 ? { warmupMs: WARM_MS } : {}),
              },
            );
            cells.push(cell);
            ctx.progress(
              `${n} nodes, ${as}, round ${pass}/${rounds[mode]}: p50 ${cell.p50_ms} ms, p99 ${cell.p99_ms} ms; ` +
                `extender p50 ${cell.server_p50_ms} ms, p99 ${cell.server_p99_ms} ms, ` +
                `CPU ${cell.server_cpu_ms_per_cycle} ms/cycle (${cell.requestBytes} request bytes)`,
            );
          }
        }
      }
      await stopChild(ext.child);
      if (flagged) await stopChild(flagged.child);
    }
    const cell = (n: number, mode: Mode) => medianCell(cells, n, mode);
    return {
      params: {
        sizes,
        iterations,
        warmup,
        schedule:
          `each extender process's first ${COLD_CYCLES} names-only cycles after start measured apart (cold), then ` +
          `cycles for at least ${WARM_MS / 1000} s before its first round; every round after ${JSON.stringify(warmup)} ` +
          "warm-up cycles",
        rounds,
        gpuTypes: TYPES.map((t) => `${t.product} x${t.gpus}`),
        pod: "llama-8b, 2 GPUs, deployment with a recommended mix",
        measured:
          "filter over the cycle's candidates, then prioritize over the nodes that passed, each one HTTP POST over " +
          "loopback keep-alive to the extender in its own process; the client's JSON encoding of each request and " +
          "decoding of each answer inside the measured time",
        candidates:
          `kube-scheduler's lists for ${VARIANTS} consecutive cycles with the chart's configuration (adaptive ` +
          `percentageOfNodesToScore: ${sizes.map((n) => `${feasibleNodesToFind(n)} of ${n}`).join(", ")} nodes; ` +
          "start rotating by the nodes processed; 16 workers' finds interleaved; its own filter passing nodes with " +
          `${BENCH_POD_GPUS} free GPUs), as names (nodeCacheCapable) and as full Node objects; reshuffled: every ` +
          "node, in another order each cycle",
        nice: BENCH_NICE,
        gcFlagsArm: `names-only at ${sizes[sizes.length - 1]} nodes, extender process run with ${GC_FLAGS.join(" ")}`,
        // This machine is shared: the load average says how contended the CPU was while measuring.
        loadAverageAtStart: loadAtStart,
        loadAverageAtEnd: os.loadavg().map(round),
        ratioDefinition: "full_over_names_ratio = median cycle time with full Node objects / names-only, at 5000 nodes",
      },
      summary: {
        p99_ms_1000_nodes: cell(1000, "names").p99_ms,
        p99_ms_1000_nodes_cold: cell(1000, "names-cold").p99_ms,
        p99_ms_5000_nodes_cold: cell(5000, "names-cold").p99_ms,
        server_cpu_ms_per_cycle_5000_nodes_cold: cell(5000, "names-cold").server_cpu_ms_per_cycle,
        p99_ms_5000_nodes: cell(5000, "names").p99_ms,
        full_over_names_ratio: round(cell(5000, "full").p50_ms / cell(5000, "names").p50_ms),
        p50_ms_5000_nodes: cell(5000, "names").p50_ms,
        p99_ms_5000_nodes_full: cell(5000, "full").p99_ms,
        p99_ms_1000_nodes_full: cell(1000, "full").p99_ms,
        p99_ms_5000_nodes_reshuffled: cell(5000, "names-unordered").p99_ms,
        server_p99_ms_1000_nodes: cell(1000, "names").server_p99_ms,
        server_p99_ms_5000_nodes: cell(5000, "names").server_p99_ms,
        server_cpu_ms_per_cycle_5000_nodes: cell(5000, "names").server_cpu_ms_per_cycle,
        p99_ms_5000_nodes_spread: cell(5000, "names").p99_spread_ms,
        client_codec_p50_ms_5000_nodes: cell(5000, "names").client_codec_p50_ms,
        passed_filter_5000_nodes: cell(5000, "names").feasibleNodes,
        p99_ms_1000_nodes_spread: cell(1000, "names").p99_spread_ms,
        // The same lists against an extender process run with GC_FLAGS, rounds alternating with the default one's.
        p99_ms_5000_nodes_gc_flags: cell(5000, "names-gc-flags").p99_ms,
        p50_ms_5000_nodes_gc_flags: cell(5000, "names-gc-flags").p50_ms,
        p99_ms_5000_nodes_gc_flags_spread: cell(5000, "names-gc-flags").p99_spread_ms,
        load_average_1m: loadAtStart[0]!,
      },
      series: { cells },
    };
  },

  plot(result: BenchResult): TopLevelSpec {
    const all = (result.series as { cells: Cell[] }).cells;
    const sizes = [...new Set(all.map((c) => c.nodes))];
    const modes = MODES.filter((m) => all.some((c) => c.mode === m));
    const cells = sizes.flatMap((n) =>
      modes.filter((mode) => all.some((c) => c.nodes === n && c.mode === mode)).map((mode) => medianCell(all, n, mode)),
    );
    const rows = cells.flatMap((c) => [
      { nodes: `${c.nodes} nodes`, mode: MODE_TITLES[c.mode], stat: "p50", ms: c.p50_ms },
      { nodes: `${c.nodes} nodes`, mode: MODE_TITLES[c.mode], stat: "p99", ms: c.p99_ms },
    ]);
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: `Extender filter + prioritize latency (ms, log scale, median of rounds; target p99 <= ${TARGETS.p99MsAt5000Nodes.value} ms names-only at 5000 nodes)`,
      data: { values: rows },
      mark: "bar",
      encoding: {
        column: { field: "nodes", type: "nominal", title: null },
        x: { field: "mode", type: "nominal", title: null },
        xOffset: { field: "stat" },
        y: { field: "ms", type: "quantitative", scale: { type: "log" }, title: "milliseconds" },
        color: { field: "stat", type: "nominal" },
      },
    };
  },
};

export default benchmark;
