import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "results");

/** What every benchmark writes to `bench/results/<name>.json` (see DESIGN.md, "Benchmarks convention"). */
export interface BenchResult {
  name: string;
  date: string;
  machine: {
    cpus: number;
    cpuModel: string;
    node: string;
    platform: string;
    /**
     * Milliseconds a fixed single-threaded workload (`cpuReferenceMs()`) took just before and just after the run: the
     * same code, so the ratio to another file's figure says how much faster or slower the machine itself was.
     */
    cpuReferenceMs?: [number, number];
    /** The host's one-minute load average just before and just after the run: other work competing for the cores. */
    loadAverage1m?: [number, number];
  };
  /** Set by `--quick`: a smoke run of the method, not a measurement to quote. */
  quick?: boolean;
  params: Record<string, unknown>;
  summary: Record<string, number>;
  series: Record<string, unknown>;
}

export interface BenchContext {
  /** `--quick`: finish in under a minute with the same summary keys. */
  quick: boolean;
  /** Progress line for the person watching. */
  progress(message: string): void;
}

/** A benchmark module exports `run(ctx)` returning everything but the envelope fields, and a `plot` spec. */
export interface Benchmark {
  run(ctx: BenchContext): Promise<Omit<BenchResult, "name" | "date" | "machine">>;
  /** A Vega-Lite spec drawn from the result (data inlined by the benchmark). */
  plot(result: BenchResult): TopLevelSpec;
}

export function machineFacts(
  cpuReferenceMs?: [number, number],
  loadAverage1m?: [number, number],
): BenchResult["machine"] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    node: process.version,
    platform: process.platform,
    ...(cpuReferenceMs ? { cpuReferenceMs } : {}),
    ...(loadAverage1m ? { loadAverage1m } : {}),
  };
}

/** The one-minute load average now, to two places. */
export function loadAverage1m(): number {
  return Math.round(os.loadavg()[0]! * 100) / 100;
}

/**
 * A fixed workload of the kind the services here do (JSON decoding, string building, integer hashing), timed as the
 * median of nine rounds. A shared machine's speed drifts by tens of percent from hour to hour; recording this beside
 * each result lets figures from different days be compared.
 */
export function cpuReferenceMs(): number {
  const doc = JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ name: `node-${i}`, gpus: i % 8 })));
  const rounds: number[] = [];
  let sink = 0;
  for (let r = 0; r < 9; r++) {
    const t0 = performance.now();
    for (let k = 0; k < 10; k++) {
      const nodes = JSON.parse(doc) as { name: string; gpus: number }[];
      let out = "";
      for (const n of nodes) out += n.name + ":" + n.gpus + ",";
      for (let i = 0; i < out.length; i++) sink = Math.imul(sink ^ out.charCodeAt(i), 16777619);
    }
    rounds.push(performance.now() - t0);
  }
  if (sink === 0.5) console.log(sink); // keeps the loop from being optimised away
  rounds.sort((a, b) => a - b);
  return Math.round(rounds[4]! * 10) / 10;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  return view.toSVG();
}

export async function writeResult(result: BenchResult, spec: TopLevelSpec, dir = RESULTS_DIR): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const jsonPath = path.join(dir, `${result.name}.json`);
  const svgPath = path.join(dir, `${result.name}.svg`);
  await writeFile(jsonPath, JSON.stringify(result, null, 2) + "\n");
  await writeFile(svgPath, await renderSvg(spec));
  return [jsonPath, svgPath];
}
