// Two builds of our router side by side, in front of the same canned engines, rounds alternating between them: how
// an optimisation's effect is measured on a shared machine (load drift hits both alike).
// Build each into a folder holding cli/main.js (e.g. `npx tsc -p tsconfig.build.json --outDir tmp/router-a`, and copy
// simulator/calibrations.json beside it), then:
//   npx tsx bench/router-overhead/compare-builds.ts <dir A> <dir B> [strategy] [rounds] [seconds] [--cpu-prof]
// --cpu-prof writes each router process's CPU profile to tmp/router-profiles/.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { SIMULATOR_TOKENIZER_DIR } from "../../simulator/index.js";
import { stopChild } from "../lib/child.js";
import { median } from "../lib/stats.js";
import { makePool, openLoop, percentile, round, type RequestSpec } from "../router-common/loadgen.js";
import { cpuSeconds, freePort, startCannedEngines, waitReady, type Proc } from "../router-common/processes.js";
import { longRequest, MODEL, plain } from "./workload.js";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const [dirA, dirB, strategy = "least-request", rounds = "3", seconds = "8"] = args;
const profile = process.argv.includes("--cpu-prof");
if (!dirA || !dirB) {
  console.error("usage: compare-builds.ts <dir A> <dir B> [strategy] [rounds] [seconds] [--cpu-prof]");
  process.exit(2);
}

async function startBuild(dir: string, endpointFile: string): Promise<Proc> {
  const port = await freePort();
  const cfg = path.join(os.tmpdir(), `compare-builds-${process.pid}-${port}.json`);
  await writeFile(cfg, JSON.stringify({ defaultStrategy: strategy, tokenizers: { [MODEL]: SIMULATOR_TOKENIZER_DIR } }));
  const prof = profile ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve("tmp", "router-profiles")}`] : [];
  const argv = [...prof, path.join(dir, "cli", "main.js"), "router", "--endpoints", endpointFile, "--config", cfg];
  const child = spawn(
    process.execPath,
    [...argv, "--host", "127.0.0.1", "--port", String(port), "--log-level", "warn"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  const keep = (b: Buffer) => (out = (out + b.toString()).slice(-20000));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const p: Proc = {
    name: dir,
    child,
    url: `http://127.0.0.1:${port}`,
    log: () => out,
    stop: () => stopChild(child, 10_000),
  };
  await waitReady(p, async () => (await fetch(`${p.url}/v1/models`)).ok);
  return p;
}

const figures: Record<string, Record<string, number[]>> = { A: {}, B: {} };
const note = (build: string, figure: string, v: number) => (figures[build]![figure] ??= []).push(v);

async function measureBuild(build: string, dir: string, endpointFile: string): Promise<void> {
  const p = await startBuild(dir, endpointFile);
  const pool = makePool(p.url, 64);
  await openLoop(pool, () => plain, 1000, 2000);
  await openLoop(pool, (i) => longRequest(i), 1000, 1000);
  const phases: [string, (i: number) => RequestSpec][] = [
    ["short", () => plain],
    ["long", (i) => longRequest(i)],
  ];
  for (const [kind, next] of phases) {
    const cpu0 = cpuSeconds(p);
    const samples = await openLoop(pool, next, 1000, Number(seconds) * 1000);
    const ok = samples.filter((x) => x.status === 200).map((x) => x.ms);
    note(build, `${kind} p50 ms`, percentile(ok, 50));
    note(build, `${kind} p99 ms`, percentile(ok, 99));
    note(build, `${kind} CPU µs/req`, ((cpuSeconds(p) - cpu0) * 1e6) / samples.length);
    note(build, `${kind} errors`, samples.length - ok.length);
  }
  await pool.close();
  await p.stop();
}

const { procs, fleet } = await startCannedEngines(MODEL, 2, SIMULATOR_TOKENIZER_DIR);
const loads: number[] = [];
try {
  for (let r = 0; r < Number(rounds); r++) {
    await measureBuild("A", dirA, fleet.endpointFile);
    await measureBuild("B", dirB, fleet.endpointFile);
    loads.push(os.loadavg()[0]!);
    console.error(`round ${r + 1}/${rounds} done, load average ${loads.at(-1)!.toFixed(2)}`);
  }
} finally {
  for (const p of procs) await p.stop();
}
console.log(
  `${strategy}, ${rounds} rounds of ${seconds} s at 1,000 req/s; load average ${loads.map((l) => l.toFixed(2)).join(", ")}`,
);
for (const figure of Object.keys(figures.A!)) {
  const [a, b] = [figures.A![figure]!, figures.B![figure]!];
  const each = (xs: number[]) => xs.map((x) => round(x, 2)).join(", ");
  console.log(
    `${figure.padEnd(16)} A ${round(median(a), 3)}  B ${round(median(b), 3)}  (A: ${each(a)} | B: ${each(b)})`,
  );
}
