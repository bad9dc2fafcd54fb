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
  machine: { cpus: number; cpuModel: string; node: string; platform: string };
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

export function machineFacts(): BenchResult["machine"] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    node: process.version,
    platform: process.platform,
  };
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
