// How a benchmark declares the figures the README quotes and the targets they are held to. Each benchmark keeps its
// declaration in bench/<name>/readme.ts; `npm run bench:readme` renders them from bench/results/<name>.json.
import type { BenchResult } from "./result.js";

/** A bound a figure must stay on the right side of. `at-most` 5 means a figure of 5 meets it. */
export interface Target {
  bound: "at-most" | "at-least";
  value: number;
}

export const atMost = (value: number): Target => ({ bound: "at-most", value });
export const atLeast = (value: number): Target => ({ bound: "at-least", value });

/** One figure of a result's summary, as the README quotes it. */
export interface Figure {
  /** Summary key the value is read from. */
  key: string;
  /** Words before the value, e.g. "added p99". */
  label: string;
  /** Appended to the number as written, e.g. " ms" or "×". */
  unit?: string;
  /** Decimal places; figures of 100 or more lose them unless this says otherwise. */
  digits?: number;
  target?: Target;
}

export interface ReadmeEntry {
  /** What ran, read from the result's params: workload, sizes, strategies. */
  context?(result: BenchResult): string;
  figures: Figure[];
  /** Further facts read from the result: per-round ranges, per-peer figures, what a figure means. */
  notes?(result: BenchResult): string[];
}

export function meets(value: number, target: Target): boolean {
  return target.bound === "at-most" ? value <= target.value : value >= target.value;
}

/** `1234.5` → "1,235"; `2.9617` with 2 digits → "2.96". */
export function formatNumber(value: number, digits = 2): string {
  return withPlaces(value, Math.abs(value) >= 100 ? 0 : digits);
}

function withPlaces(value: number, places: number): string {
  return value.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
}

/**
 * `formatNumber`, with as many more decimals as it takes (up to 6) for the number written to fall on the same side of
 * `target` as the value: 1.197 against ≥ 1.2 reads "1.197", not a "1.20" marked missed.
 */
export function formatBeside(value: number, target: Target, digits = 2): string {
  const sameSide = (text: string) => meets(Number(text.replace(/,/g, "")), target) === meets(value, target);
  let text = formatNumber(value, digits);
  for (let places = Math.abs(value) >= 100 ? 1 : digits + 1; !sameSide(text) && places <= 6; places++) {
    text = withPlaces(value, places);
  }
  return text;
}

/** A target as declared: "≤ 0.3 ms", "≥ 10,000" (no padding to the figure's decimal places). */
export function formatTarget(target: Target, unit = ""): string {
  const value = target.value.toLocaleString("en-US", { maximumFractionDigits: 3 });
  return `${target.bound === "at-most" ? "≤" : "≥"} ${value}${unit}`;
}

/** "p99 2.96 ms [≤ 5 ms: met]", "p99 61 ms [≤ 50 ms: MISSED]", or "p99: not in the result file". */
export function renderFigure(figure: Figure, summary: Record<string, unknown>): string {
  const value = summary[figure.key];
  if (typeof value !== "number" || !Number.isFinite(value)) {
    const bracket = figure.target ? ` [${formatTarget(figure.target, figure.unit)}: not measured]` : "";
    return `${figure.label}: not in the result file (\`${figure.key}\`)${bracket}`;
  }
  if (!figure.target) return `${figure.label} ${formatNumber(value, figure.digits)}${figure.unit ?? ""}`;
  const text = `${figure.label} ${formatBeside(value, figure.target, figure.digits)}${figure.unit ?? ""}`;
  const verdict = meets(value, figure.target) ? "met" : "**MISSED**";
  return `${text} [${formatTarget(figure.target, figure.unit)}: ${verdict}]`;
}

/** A nested number of a result's params or series, or undefined when the path is absent or not a number. */
export function numberAt(root: unknown, ...path: (string | number)[]): number | undefined {
  let node: unknown = root;
  for (const step of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string | number, unknown>)[step];
  }
  return typeof node === "number" && Number.isFinite(node) ? node : undefined;
}

/** "0.97–1.03" over the numbers given, with the same formatting as figures; "" when there are none. */
export function range(values: readonly (number | undefined)[], digits = 2, unit = ""): string {
  const xs = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  if (xs.length === 0) return "";
  return `${formatNumber(Math.min(...xs), digits)}–${formatNumber(Math.max(...xs), digits)}${unit}`;
}

/** "[≤ 1 ms: met]" for a value computed in a note rather than read from the summary. */
export function verdict(value: number, target: Target, unit = ""): string {
  return `[${formatTarget(target, unit)}: ${meets(value, target) ? "met" : "**MISSED**"}]`;
}

/** How each router ran, as a result records it under `params.routers`; a note saying so when it does not. */
export function routerSetupNotes(params: Record<string, unknown>): string[] {
  const routers = params.routers;
  if (routers === null || typeof routers !== "object")
    return ["peer versions and flags not recorded in this result (measured before results recorded them)"];
  type Setup = { version?: string; args?: string[]; defaults?: Record<string, string> };
  return Object.entries(routers as Record<string, Setup>).map(([name, r]) => {
    const args = r.args?.length ? ` \`${r.args.join(" ")}\`` : "";
    const defaults = Object.entries(r.defaults ?? {}).map(([flag, v]) => `${flag} ${v}`);
    return `${name} ${r.version ?? "(version unknown)"}${args}${defaults.length ? ` (defaults: ${defaults.join(", ")})` : ""}`;
  });
}
