// `aibrix-ts profile`: benchmark one engine over input × output × rate buckets and write its GPU profile (upstream's
// JSON, cut at the SLO given). Resumable: measured points are kept in <out>.rows.jsonl.
import type { Command } from "commander";
import { writeFile } from "node:fs/promises";
import { cutProfile } from "../optimizer/profiling/cut.js";
import { runSweep } from "../optimizer/profiling/sweep.js";
import type { SloSpec } from "../api/gpu-profile.js";
import { simulatedPoint } from "./simulated-sweep.js";

interface ProfileFlags {
  url?: string;
  simulated?: string;
  model: string;
  gpu: string;
  cost: string;
  out: string;
  inputs: string;
  outputs: string;
  rates: string;
  requests: string;
  e2e?: string;
  ttft?: string;
  tpot?: string;
  percentile: string;
  timeScale: string;
  apiKey?: string;
}

function numberList(flag: string, value: string, integer: boolean): number[] {
  const list = value.split(",").map((s) => Number(s.trim()));
  const bad = list.find((n) => !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)));
  if (list.length === 0 || bad !== undefined) {
    throw new Error(
      `--${flag} ${JSON.stringify(value)}: give a comma-separated list of ${integer ? "whole " : ""}numbers > 0`,
    );
  }
  return list;
}

function positive(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} ${JSON.stringify(value)}: must be a number > 0`);
  return n;
}

function progressBar(done: number, total: number, what: string): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${what}`;
  if (process.stderr.isTTY)
    process.stderr.write(`\r${line.slice(0, process.stderr.columns - 1).padEnd(process.stderr.columns - 1)}`);
  else process.stderr.write(line + "\n");
}

export function registerProfile(program: Command): void {
  program
    .command("profile")
    .description("benchmark one OpenAI-compatible engine and write its GPU profile for the optimizer (resumable)")
    .option("--url <url>", "engine base URL, e.g. http://127.0.0.1:8000")
    .option("--simulated <profile>", "instead of --url: the simulator's engine profile (e.g. a10g-8b), in virtual time")
    .option("--model <name>", "served model name (with --url)", "")
    .requiredOption("--gpu <type>", "GPU type the engine runs on (the profile's `gpu`)")
    .requiredOption("--cost <dollars>", "$ per hour of one replica")
    .requiredOption("--out <file>", "profile JSON to write; measured points go to <file>.rows.jsonl")
    .option("--inputs <list>", "input-token buckets", "128,256,512,1024,2048")
    .option("--outputs <list>", "output-token buckets", "4,8,16,32,64,128,256,512")
    .option("--rates <list>", "offered rates to try, req/s", "0.5,1,2,4,8,16,32,64")
    .option("--requests <n>", "requests per point at least (more until the point is steady)", "64")
    .option("--e2e <seconds>", "SLO: end-to-end latency at the percentile")
    .option("--ttft <seconds>", "SLO: time to first token at the percentile")
    .option("--tpot <seconds>", "SLO: time per output token at the percentile")
    .option("--percentile <p>", "SLO percentile: 0 (mean), 50, 90 or 99", "99")
    .option("--time-scale <k>", "the engine's time runs k times faster (a simulator's --speedup)", "1")
    .option("--api-key <key>", "Bearer key for the engine")
    .action(async (f: ProfileFlags) => {
      if (Boolean(f.url) === Boolean(f.simulated))
        throw new Error("give one engine: --url <url> or --simulated <profile>");
      if (f.url && !/^https?:\/\//.test(f.url))
        throw new Error(`--url ${JSON.stringify(f.url)} must be an http(s) URL`);
      if (f.url && !f.model) throw new Error("--model is required with --url: the served model name");
      const percentile = Number(f.percentile);
      if (![0, 50, 90, 99].includes(percentile)) throw new Error(`--percentile ${f.percentile}: use 0, 50, 90 or 99`);
      const slo: SloSpec = { percentile };
      for (const k of ["e2e", "ttft", "tpot"] as const) {
        const v = positive(k, f[k]);
        if (v !== undefined) slo[k] = v;
      }
      if (slo.e2e === undefined && slo.ttft === undefined && slo.tpot === undefined) {
        throw new Error("give the SLO to cut the profile at: --e2e, --ttft and/or --tpot (seconds)");
      }
      const inputBuckets = numberList("inputs", f.inputs, true);
      const outputBuckets = numberList("outputs", f.outputs, true);
      const rowsFile = `${f.out}.rows.jsonl`;
      const requestsPerPoint = numberList("requests", f.requests, true)[0]!;
      const simulated = f.simulated;
      const rows = await runSweep({
        url: f.url ?? "",
        model: f.model,
        inputBuckets,
        outputBuckets,
        rates: numberList("rates", f.rates, false),
        requestsPerPoint,
        slo,
        rowsFile,
        timeScale: positive("time-scale", f.timeScale) ?? 1,
        ...(f.apiKey ? { apiKey: f.apiKey } : {}),
        onProgress: progressBar,
        ...(simulated
          ? { measure: async (i: number, o: number, r: number, n: number) => simulatedPoint(simulated, i, o, r, n) }
          : {}),
      });
      if (process.stderr.isTTY) process.stderr.write("\n");
      const profile = cutProfile(rows, {
        gpu: f.gpu,
        cost: positive("cost", f.cost)!,
        slo,
        inputBuckets,
        outputBuckets,
      });
      await writeFile(f.out, JSON.stringify(profile, null, 1) + "\n");
      console.error(`aibrix-ts profile: wrote ${f.out} (${rows.length} points in ${rowsFile})`);
    });
}
