// Renders the README's benchmark table from bench/results/*.json and each benchmark's bench/<name>/readme.ts, so
// the figures quoted can never drift from the files. A result without a readme.ts is rendered from its summary keys.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { formatNumber, numberAt, renderFigure, type ReadmeEntry } from "./figures.js";
import { RESULTS_DIR, type BenchResult } from "./result.js";

export const BENCH_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
export const README_PATH = path.join(BENCH_DIR, "..", "README.md");
export const BLOCK_BEGIN =
  "<!-- bench-figures:begin: rendered from bench/results/*.json by `npm run bench:readme`; edit bench/<name>/readme.ts, not this table -->";
export const BLOCK_END = "<!-- bench-figures:end -->";

/** One results file as read: the result, or why it could not be used. */
export type LoadedResult = { name: string; result: BenchResult } | { name: string; error: string };

export async function loadResults(dir = RESULTS_DIR): Promise<LoadedResult[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  return Promise.all(
    files.map(async (file): Promise<LoadedResult> => {
      const name = file.slice(0, -".json".length);
      try {
        const parsed = JSON.parse(await readFile(path.join(dir, file), "utf8")) as unknown;
        const problem = shapeProblem(parsed);
        return problem ? { name, error: problem } : { name, result: parsed as BenchResult };
      } catch (err) {
        return { name, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

function shapeProblem(parsed: unknown): string | undefined {
  if (parsed === null || typeof parsed !== "object") return "not a JSON object";
  const r = parsed as Record<string, unknown>;
  if (r.summary === null || typeof r.summary !== "object") return "no `summary` object";
  return undefined;
}

/** Every bench/<name>/readme.ts, keyed by <name>. */
export async function loadEntries(dir = BENCH_DIR): Promise<Map<string, ReadmeEntry>> {
  const entries = new Map<string, ReadmeEntry>();
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (!d.isDirectory()) continue;
    const file = path.join(dir, d.name, "readme.ts");
    const present = (await readdir(path.join(dir, d.name))).includes("readme.ts");
    if (!present) continue;
    const mod = (await import(pathToFileURL(file).href)) as { default?: ReadmeEntry };
    if (!mod.default || !Array.isArray(mod.default.figures))
      throw new Error(`${path.relative(path.join(dir, ".."), file)}: the default export must be a ReadmeEntry`);
    entries.set(d.name, mod.default);
  }
  return entries;
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function machineLine(r: BenchResult): string {
  const parts = [`measured ${typeof r.date === "string" ? r.date.slice(0, 10) : "on an unrecorded date"}`];
  const ref = r.machine?.cpuReferenceMs;
  parts.push(
    Array.isArray(ref) && ref.length === 2
      ? `speed reference ${formatNumber(ref[0], 1)}→${formatNumber(ref[1], 1)} ms`
      : "no speed reference recorded",
  );
  const load = r.machine?.loadAverage1m ?? legacyLoad(r);
  parts.push(
    Array.isArray(load) && load.length === 2
      ? `load ${formatNumber(load[0], 2)}→${formatNumber(load[1], 2)}`
      : "no load recorded",
  );
  if (r.quick) parts.push("**a --quick run, not a measurement**");
  return `_${parts.join("; ")}_`;
}

/** Where results written before `machine.loadAverage1m` existed kept the one-minute load: [before, after]. */
function legacyLoad(r: BenchResult): [number, number] | undefined {
  const p = r.params ?? {};
  const pairs: [unknown, unknown][] = [
    [numberAt(p, "loadAverageAtStart", 0), numberAt(p, "loadAverageAtEnd", 0)],
    [numberAt(p, "loadAverage1mBeforeAndAfter", 0), numberAt(p, "loadAverage1mBeforeAndAfter", 1)],
    [numberAt(p, "host_load_average_1m_at_start"), numberAt(p, "host_load_average_1m_at_end")],
  ];
  const pair = pairs.find(([a, b]) => typeof a === "number" && typeof b === "number");
  return pair as [number, number] | undefined;
}

function genericFigures(summary: Record<string, unknown>): string[] {
  return Object.entries(summary)
    .filter((e): e is [string, number] => typeof e[1] === "number")
    .map(([k, v]) => `\`${k}\` ${formatNumber(v, 3)}`);
}

function safely(what: string, f: () => string[]): string[] {
  try {
    return f();
  } catch (err) {
    return [`(${what} could not be read from the result: ${err instanceof Error ? err.message : String(err)})`];
  }
}

export function renderRow(name: string, loaded: LoadedResult | undefined, entry: ReadmeEntry | undefined): string {
  if (!loaded) return `| \`${name}\` | no result file yet (\`npm run bench -- ${name}\`) |`;
  if ("error" in loaded) return `| \`${name}\` | ${cell(`result file unreadable: ${loaded.error}`)} |`;
  const r = loaded.result;
  const context = entry?.context ? safely("context", () => [entry.context!(r)]).join("") : "";
  const figures = entry
    ? entry.figures.map((f) => renderFigure(f, r.summary))
    : [...genericFigures(r.summary), "no targets declared"];
  const notes = entry?.notes ? safely("notes", () => entry.notes!(r)) : [];
  const text = [figures.join("; "), ...notes].filter(Boolean).join(". ");
  const head = context ? `\`${name}\` (${context})` : `\`${name}\``;
  return `| ${cell(head)} | ${cell(`${text}. ${machineLine(r)}`)} |`;
}

/** The table between the markers: one row per result file and per declared benchmark without one, by name. */
export function renderBlock(results: readonly LoadedResult[], entries: ReadonlyMap<string, ReadmeEntry>): string {
  const byName = new Map(results.map((l) => [l.name, l]));
  const names = [...new Set([...byName.keys(), ...entries.keys()])].sort();
  const rows = names.map((n) => renderRow(n, byName.get(n), entries.get(n)));
  return [BLOCK_BEGIN, "", "| benchmark | figures [target: met or MISSED] |", "|---|---|", ...rows, "", BLOCK_END].join(
    "\n",
  );
}

/** README text with the block between the markers replaced; throws when the markers are missing or out of order. */
export function spliceBlock(readme: string, block: string): string {
  const begin = readme.indexOf(BLOCK_BEGIN);
  const end = readme.indexOf(BLOCK_END);
  if (begin < 0 || end < begin)
    throw new Error(`README.md has no benchmark block: put the lines\n${BLOCK_BEGIN}\n${BLOCK_END}\nwhere it belongs`);
  return readme.slice(0, begin) + block + readme.slice(end + BLOCK_END.length);
}

export async function renderReadme(readmePath = README_PATH): Promise<{ current: string; rendered: string }> {
  const current = await readFile(readmePath, "utf8");
  const block = renderBlock(await loadResults(), await loadEntries());
  return { current, rendered: spliceBlock(current, block) };
}
