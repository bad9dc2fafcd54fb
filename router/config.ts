// The router's YAML configuration file: strategy, named picking pipelines, intervals, timeouts, retry and ejection.
//
//   defaultStrategy: "prefix-cache:3,least-request:2"
//   scrapeIntervalMs: 50          # while a strategy routes on engine metrics
//   idleScrapeIntervalMs: 1000    # while none does
//   timeouts: {connectMs: 2000, firstByteMs: 120000, streamFirstByteMs: 30000, idleMs: 30000}
//   retry: {maxRetries: 2, budgetRatio: 0.2, minPerSecond: 10}
//   ejection: {consecutiveFailures: 3, baseCooldownMs: 2000, maxCooldownMs: 30000}
//   prefix: {blockSize: 16, imbalanceAbs: 64, imbalanceRel: 1.5, stdDevFactor: 1, offloadedBlockWeight: 0.5}
//   prefillCoalescing: {minBlocks: 32, maxWaitMs: 2000}   # maxWaitMs: 0 turns it off
//   tokenizers: {llama-3-8b: /tokenizers/llama-3-8b}      # model → tokenizer.json directory (kv-prefix)
//   prefixHashSeed: "0"                                   # the engines' PYTHONHASHSEED, if they set one
//   pipelines:                    # `profiles:`, the old name, still works and warns
//     cache-then-load:
//       filters: [not-saturated]
//       scorers: [{name: prefix-cache, weight: 3}, {name: queue, weight: 2}, {name: least-kv-cache, weight: 2}]
//       picker: max-score
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import type { PipelineConfig } from "./picking/pipelines.js";
import type { RouterOptions } from "./server.js";

export type RouterConfigFile = Pick<
  RouterOptions,
  | "defaultStrategy"
  | "pipelines"
  | "scrapeIntervalMs"
  | "idleScrapeIntervalMs"
  | "staleAfterMs"
  | "timeouts"
  | "retry"
  | "ejection"
  | "prefix"
  | "prefillCoalescing"
  | "maxBodyBytes"
  | "tokenizers"
  | "prefixHashSeed"
>;

export class RouterConfigError extends Error {}

const NUMERIC_GROUPS: Record<string, string[]> = {
  timeouts: ["connectMs", "firstByteMs", "streamFirstByteMs", "idleMs"],
  retry: ["maxRetries", "budgetRatio", "minPerSecond"],
  ejection: ["consecutiveFailures", "baseCooldownMs", "maxCooldownMs"],
  prefix: ["blockSize", "imbalanceAbs", "imbalanceRel", "stdDevFactor", "offloadedBlockWeight"],
  prefillCoalescing: ["minBlocks", "maxWaitMs"],
};
const TOP_NUMBERS = ["scrapeIntervalMs", "idleScrapeIntervalMs", "staleAfterMs", "maxBodyBytes"];

/** The key that holds the named pipelines: `pipelines`, or its old name `profiles` with a warning. */
function pipelinesKey(
  d: Record<string, unknown>,
  file: string,
  warn: (message: string) => void,
): "pipelines" | "profiles" {
  if (d.profiles === undefined) return "pipelines";
  if (d.pipelines !== undefined) {
    throw new RouterConfigError(`${file}: profiles: is the old name of pipelines:; give only pipelines:`);
  }
  warn(`${file}: profiles: is deprecated; rename it pipelines: (same format)`);
  return "profiles";
}

/** The positive top-level numbers and the groups of numbers ≥ 0 (timeouts, retry, …). */
function checkNumbers(d: Record<string, unknown>, file: string): void {
  for (const k of TOP_NUMBERS) {
    if (d[k] !== undefined && !(typeof d[k] === "number" && (d[k] as number) > 0)) {
      throw new RouterConfigError(`${file}: ${k}: ${JSON.stringify(d[k])} must be a positive number`);
    }
  }
  for (const [group, fields] of Object.entries(NUMERIC_GROUPS)) {
    const g = d[group];
    if (g === undefined) continue;
    if (typeof g !== "object" || g === null) throw new RouterConfigError(`${file}: ${group}: must be a mapping`);
    for (const [k, v] of Object.entries(g)) {
      if (!fields.includes(k))
        throw new RouterConfigError(`${file}: ${group}.${k}: unknown; known: ${fields.join(", ")}`);
      if (typeof v !== "number" || v < 0)
        throw new RouterConfigError(`${file}: ${group}.${k}: ${JSON.stringify(v)} must be a number ≥ 0`);
    }
  }
  const offloadedWeight = (d.prefix as Record<string, unknown> | undefined)?.offloadedBlockWeight;
  if (typeof offloadedWeight === "number" && offloadedWeight > 1) {
    throw new RouterConfigError(
      `${file}: prefix.offloadedBlockWeight: ${offloadedWeight} must be at most 1 (a block in GPU counts 1)`,
    );
  }
}

/** `tokenizers:`, a mapping of model name → tokenizer directory. */
function checkedTokenizers(tokenizers: unknown, file: string): Record<string, string> | undefined {
  if (tokenizers === undefined) return undefined;
  if (typeof tokenizers !== "object" || tokenizers === null || Array.isArray(tokenizers)) {
    throw new RouterConfigError(`${file}: tokenizers: must be a mapping of model name → tokenizer directory`);
  }
  for (const [model, dir] of Object.entries(tokenizers)) {
    if (typeof dir !== "string" || dir === "") {
      throw new RouterConfigError(`${file}: tokenizers.${model}: ${JSON.stringify(dir)} must be a directory path`);
    }
  }
  return tokenizers as Record<string, string>;
}

export function parseRouterConfig(
  text: string,
  file = "router config",
  warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
): RouterConfigFile {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new RouterConfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new RouterConfigError(`${file}: must be a mapping of settings`);
  }
  const d = doc as Record<string, unknown>;
  const known = new Set([
    "defaultStrategy",
    "pipelines",
    "tokenizers",
    "prefixHashSeed",
    ...TOP_NUMBERS,
    ...Object.keys(NUMERIC_GROUPS),
  ]);
  for (const k of Object.keys(d)) {
    if (!known.has(k) && k !== "profiles")
      throw new RouterConfigError(`${file}: ${k}: unknown setting; known: ${[...known].join(", ")}`);
  }
  if (d.defaultStrategy !== undefined && typeof d.defaultStrategy !== "string") {
    throw new RouterConfigError(
      `${file}: defaultStrategy: ${JSON.stringify(d.defaultStrategy)} must be a strategy name or "a:w,b:w"`,
    );
  }
  checkNumbers(d, file);
  const pipelinesAt = pipelinesKey(d, file, warn);
  const pipelines = d[pipelinesAt];
  if (pipelines !== undefined && (typeof pipelines !== "object" || pipelines === null || Array.isArray(pipelines))) {
    throw new RouterConfigError(`${file}: ${pipelinesAt}: must be a mapping of name → {filters, scorers, picker}`);
  }
  const tokenizers = checkedTokenizers(d.tokenizers, file);
  if (d.prefixHashSeed !== undefined && typeof d.prefixHashSeed !== "string") {
    throw new RouterConfigError(
      `${file}: prefixHashSeed: ${JSON.stringify(d.prefixHashSeed)} must be a string (PYTHONHASHSEED's value, quoted)`,
    );
  }
  return {
    tokenizers,
    prefixHashSeed: d.prefixHashSeed as string | undefined,
    defaultStrategy: d.defaultStrategy as string | undefined,
    pipelines: pipelines as Record<string, PipelineConfig> | undefined,
    scrapeIntervalMs: d.scrapeIntervalMs as number | undefined,
    idleScrapeIntervalMs: d.idleScrapeIntervalMs as number | undefined,
    staleAfterMs: d.staleAfterMs as number | undefined,
    maxBodyBytes: d.maxBodyBytes as number | undefined,
    timeouts: d.timeouts as RouterConfigFile["timeouts"],
    retry: d.retry as RouterConfigFile["retry"],
    ejection: d.ejection as RouterConfigFile["ejection"],
    prefix: d.prefix as RouterConfigFile["prefix"],
    prefillCoalescing: d.prefillCoalescing as RouterConfigFile["prefillCoalescing"],
  };
}

export async function loadRouterConfig(file: string): Promise<RouterConfigFile> {
  return parseRouterConfig(await readFile(file, "utf8"), file);
}
