// `npm run bench -- <name> [--quick]`: runs bench/<name>/main.ts and writes bench/results/<name>.{json,svg}.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  cpuReferenceMs,
  loadAverage1m,
  machineFacts,
  writeResult,
  type Benchmark,
  type BenchResult,
} from "./lib/result.js";

const benchDir = path.dirname(fileURLToPath(import.meta.url));

async function available(): Promise<string[]> {
  const entries = await readdir(benchDir, { withFileTypes: true });
  const names: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name === "lib" || e.name === "results") continue;
    const files = await readdir(path.join(benchDir, e.name));
    if (files.includes("main.ts")) names.push(e.name);
  }
  return names.sort();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const name = args.find((a) => !a.startsWith("--"));
  const names = await available();
  if (!name || !names.includes(name)) {
    console.error(`usage: npm run bench -- <name> [--quick]\navailable benchmarks: ${names.join(", ") || "(none)"}`);
    process.exit(2);
  }
  const mod = (await import(pathToFileURL(path.join(benchDir, name, "main.ts")).href)) as { default: Benchmark };
  const started = Date.now();
  const progress = (m: string) => console.error(`[${name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`);
  const loadBefore = loadAverage1m();
  const referenceBefore = cpuReferenceMs();
  progress(`machine speed reference: ${referenceBefore} ms (lower is faster); load average (1 min) ${loadBefore}`);
  const body = await mod.default.run({ quick, progress });
  const reference: [number, number] = [referenceBefore, cpuReferenceMs()];
  const load: [number, number] = [loadBefore, loadAverage1m()];
  const result: BenchResult = {
    name,
    date: new Date().toISOString(),
    machine: machineFacts(reference, load),
    ...(quick ? { quick: true } : {}),
    ...body,
  };
  const files = await writeResult(result, mod.default.plot(result));
  console.log(JSON.stringify(result.summary, null, 2));
  console.error(`wrote ${files.join(", ")}`);
  if (quick) console.error("a --quick result is a smoke run: restore bench/results/ before committing");
  else console.error("then `npm run bench:readme` renders the README's figures from the results");
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
