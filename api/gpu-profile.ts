// GPU profiles: how well each GPU type serves each model within its SLO, and what it costs. One document, written by
// whoever profiles the fleet, read by the GPU optimizer (to solve for the cheapest mix) and by the scheduler extender
// (to filter and score placements). Published as a file or as a ConfigMap data key, JSON or YAML.
//
//   gpus:                          # GPU types: device memory and the node label values that name them
//     A100-80GB: { memoryGiB: 80, products: [NVIDIA-A100-SXM4-80GB] }
//   models:
//     llama-3-8b:
//       memoryGiB: 40              # optional: device memory one replica needs in total (weights + KV floor)
//       profiles:                  # one per GPU type, the upstream AIBrix profile JSON
//         - { gpu: A100-80GB, cost: 3.67, tputs: [[20, 20], [40, 20]], indexes: [[4, 8], [128, 256]],
//             e2e: [[1.2, 1.5], [2.1, 3.0]], slos: { percentile: 99, e2e: 5 }, created: 1730000000 }
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { formatProblem, joinPath, ProblemList, type Problem } from "./problem.js";

/** Where the profiles live in the cluster (namespace is a deployment choice). */
export const PROFILES_CONFIGMAP = "aibrix-gpu-profiles";
/** Data keys read from that ConfigMap, first present wins. */
export const PROFILES_CONFIGMAP_KEYS = ["profiles.yaml", "profiles.json"] as const;

export interface SloSpec {
  percentile: number;
  e2e?: number;
  ttft?: number;
  tpot?: number;
}

/** One model on one GPU type, as measured by a profiling sweep (upstream AIBrix profile format). */
export interface GpuProfile {
  /** GPU type name, a key of `gpus`. */
  gpu: string;
  /** Dollars per hour for one GPU of this type. */
  cost: number;
  /** tputs[o][i]: highest request rate (req/s) meeting the SLO for output bucket o and input bucket i; 0 = infeasible. */
  tputs: number[][];
  /** [output-token buckets, input-token buckets]. */
  indexes: [number[], number[]];
  e2e?: number[][];
  ttft?: number[][];
  slos?: SloSpec;
  created?: number;
}

export interface GpuTypeSpec {
  /** Device memory of one GPU, GiB. */
  memoryGiB?: number;
  /** Node label values (`nvidia.com/gpu.product` or the configured label) that mean this type. */
  products?: string[];
}

export interface ModelProfiles {
  /** Device memory one replica needs across all its GPUs, GiB; absent = fits anywhere. */
  memoryGiB?: number;
  profiles: GpuProfile[];
}

export interface ProfileDocument {
  gpus: Record<string, GpuTypeSpec>;
  models: Record<string, ModelProfiles>;
}

/** What placement needs from one (model, GPU type) profile, computed once per load. */
export interface ProfileFacts {
  gpu: string;
  costPerHour: number;
  /** Best SLO-meeting request rate over all buckets, req/s (0 = the type never meets the SLO). */
  maxThroughput: number;
  /** Mean token throughput over the buckets this type can serve, tokens/s. */
  meanTokensPerSecond: number;
  /** Dollars per million tokens at that throughput; Infinity when the type serves nothing. */
  costPerMillionTokens: number;
}

/** A loaded, validated profile document with lookups placement uses on every call. */
export class ProfileSet {
  private readonly aliases = new Map<string, string>();
  private readonly facts = new Map<string, Map<string, ProfileFacts>>();

  constructor(readonly doc: ProfileDocument) {
    for (const [name, spec] of Object.entries(doc.gpus)) {
      this.aliases.set(name, name);
      for (const product of spec.products ?? []) this.aliases.set(product, name);
    }
    for (const [model, m] of Object.entries(doc.models)) {
      const byGpu = new Map<string, ProfileFacts>();
      for (const p of m.profiles) byGpu.set(p.gpu, profileFacts(p));
      this.facts.set(model, byGpu);
    }
  }

  static empty(): ProfileSet {
    return new ProfileSet({ gpus: {}, models: {} });
  }

  /** The GPU type a node label value names, or the value itself when no type lists it. */
  gpuType(labelValue: string): string {
    return this.aliases.get(labelValue) ?? labelValue;
  }

  hasModel(model: string): boolean {
    return this.facts.has(model);
  }

  profile(model: string, gpuType: string): ProfileFacts | undefined {
    return this.facts.get(model)?.get(gpuType);
  }

  modelMemoryGiB(model: string): number | undefined {
    return this.doc.models[model]?.memoryGiB;
  }

  gpuMemoryGiB(gpuType: string): number | undefined {
    return this.doc.gpus[gpuType]?.memoryGiB;
  }
}

export function profileFacts(p: GpuProfile): ProfileFacts {
  const [outs, ins] = p.indexes;
  let maxThroughput = 0;
  let tokenSum = 0;
  let feasible = 0;
  p.tputs.forEach((row, o) => {
    row.forEach((rate, i) => {
      if (rate <= 0) return;
      maxThroughput = Math.max(maxThroughput, rate);
      tokenSum += rate * ((outs[o] ?? 0) + (ins[i] ?? 0));
      feasible++;
    });
  });
  const meanTokensPerSecond = feasible > 0 ? tokenSum / feasible : 0;
  const costPerMillionTokens = meanTokensPerSecond > 0 ? (p.cost / 3600 / meanTokensPerSecond) * 1e6 : Infinity;
  return { gpu: p.gpu, costPerHour: p.cost, maxThroughput, meanTokensPerSecond, costPerMillionTokens };
}

/** Thrown when a profile document is malformed; `problems` name every field, value and rule. */
export class ProfileError extends Error {
  constructor(
    readonly source: string,
    readonly problems: Problem[],
  ) {
    super(`GPU profiles from ${source} are invalid: ${problems.map(formatProblem).join("; ")}`);
    this.name = "ProfileError";
  }
}

/** Parses and validates a profile document (JSON or YAML text). Throws ProfileError naming every bad field. */
export function parseProfiles(text: string, source = "input"): ProfileSet {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new ProfileError(source, [{ path: "", value: text.slice(0, 40), rule: "syntax", message: msg }]);
  }
  const problems = new ProblemList();
  const doc = checkDocument(raw, problems);
  if (problems.items.length > 0 || !doc) throw new ProfileError(source, problems.items);
  return new ProfileSet(doc);
}

export async function loadProfilesFile(file: string): Promise<ProfileSet> {
  return parseProfiles(await readFile(file, "utf8"), file);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nonNegative(v: unknown, path: string, problems: ProblemList, required: boolean): number | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    problems.add(path, v, "non-negative number", "give a finite number >= 0");
    return undefined;
  }
  return v;
}

function numberMatrix(v: unknown, path: string, problems: ProblemList): number[][] | undefined {
  if (!Array.isArray(v)) {
    problems.add(path, v, "matrix", "give an array of rows of numbers");
    return undefined;
  }
  const rows: number[][] = [];
  v.forEach((row, o) => {
    if (!Array.isArray(row)) {
      problems.add(joinPath(path, o), row, "matrix", "each row must be an array of numbers");
      return;
    }
    rows.push(row.map((x, i) => nonNegative(x, `${joinPath(path, o)}[${i}]`, problems, true) ?? 0));
  });
  return rows;
}

function checkProfile(v: unknown, path: string, gpus: Set<string>, problems: ProblemList): GpuProfile | undefined {
  if (!isRecord(v)) {
    problems.add(path, v, "object", "each profile is an object with gpu, cost, tputs and indexes");
    return undefined;
  }
  const gpu = v.gpu;
  if (typeof gpu !== "string" || gpu === "") {
    problems.add(joinPath(path, "gpu"), gpu, "required string", "name the GPU type this profile measured");
  } else if (!gpus.has(gpu)) {
    problems.add(joinPath(path, "gpu"), gpu, "known GPU type", `add "${gpu}" under gpus, or fix the name`);
  }
  const cost = nonNegative(v.cost, joinPath(path, "cost"), problems, true);
  const tputs = numberMatrix(v.tputs, joinPath(path, "tputs"), problems);
  const indexesPath = joinPath(path, "indexes");
  let indexes: [number[], number[]] | undefined;
  if (!Array.isArray(v.indexes) || v.indexes.length !== 2) {
    problems.add(indexesPath, v.indexes, "pair of bucket lists", "give [[output buckets...], [input buckets...]]");
  } else {
    const m = numberMatrix(v.indexes, indexesPath, problems);
    if (m) indexes = [m[0] ?? [], m[1] ?? []];
  }
  if (tputs && indexes) {
    if (tputs.length !== indexes[0].length) {
      problems.add(
        joinPath(path, "tputs"),
        `${tputs.length} rows`,
        "rows = output buckets",
        `tputs needs one row per output bucket (${indexes[0].length})`,
      );
    }
    tputs.forEach((row, o) => {
      if (row.length !== indexes![1].length) {
        problems.add(
          `${joinPath(path, "tputs")}[${o}]`,
          `${row.length} columns`,
          "columns = input buckets",
          `each tputs row needs one entry per input bucket (${indexes![1].length})`,
        );
      }
    });
  }
  const e2e = v.e2e === undefined ? undefined : numberMatrix(v.e2e, joinPath(path, "e2e"), problems);
  const ttft = v.ttft === undefined ? undefined : numberMatrix(v.ttft, joinPath(path, "ttft"), problems);
  let slos: SloSpec | undefined;
  if (v.slos !== undefined) {
    if (!isRecord(v.slos)) problems.add(joinPath(path, "slos"), v.slos, "object", "give {percentile, e2e?, ttft?}");
    else {
      const sp = joinPath(path, "slos");
      const percentile = nonNegative(v.slos.percentile, joinPath(sp, "percentile"), problems, true) ?? 0;
      slos = { percentile };
      for (const k of ["e2e", "ttft", "tpot"] as const) {
        const x = nonNegative(v.slos[k], joinPath(sp, k), problems, false);
        if (x !== undefined) slos[k] = x;
      }
    }
  }
  const created = nonNegative(v.created, joinPath(path, "created"), problems, false);
  if (typeof gpu !== "string" || cost === undefined || !tputs || !indexes) return undefined;
  const p: GpuProfile = { gpu, cost, tputs, indexes };
  if (e2e) p.e2e = e2e;
  if (ttft) p.ttft = ttft;
  if (slos) p.slos = slos;
  if (created !== undefined) p.created = created;
  return p;
}

function checkDocument(raw: unknown, problems: ProblemList): ProfileDocument | undefined {
  if (!isRecord(raw)) {
    problems.add("", raw, "object", "the profile document is an object with `gpus` and `models`");
    return undefined;
  }
  const gpus: Record<string, GpuTypeSpec> = {};
  const products = new Map<string, string>();
  if (raw.gpus !== undefined && !isRecord(raw.gpus)) {
    problems.add("gpus", raw.gpus, "object", "map each GPU type name to {memoryGiB, products}");
  } else {
    for (const [name, spec] of Object.entries(raw.gpus ?? {})) {
      const path = joinPath("gpus", name);
      if (!isRecord(spec)) {
        problems.add(path, spec, "object", "give {memoryGiB?, products?}");
        continue;
      }
      const g: GpuTypeSpec = {};
      const mem = nonNegative(spec.memoryGiB, joinPath(path, "memoryGiB"), problems, false);
      if (mem !== undefined) g.memoryGiB = mem;
      if (spec.products !== undefined) {
        if (!Array.isArray(spec.products) || spec.products.some((x) => typeof x !== "string")) {
          problems.add(joinPath(path, "products"), spec.products, "string list", "list node label values");
        } else {
          for (const p of spec.products as string[]) {
            const prev = products.get(p);
            if (prev !== undefined && prev !== name) {
              problems.add(joinPath(path, "products"), p, "unique product", `"${p}" is already listed under ${prev}`);
            }
            products.set(p, name);
          }
          g.products = spec.products as string[];
        }
      }
      gpus[name] = g;
    }
  }
  const known = new Set(Object.keys(gpus));
  const models: Record<string, ModelProfiles> = {};
  if (!isRecord(raw.models)) {
    problems.add("models", raw.models, "object", "map each model name to {memoryGiB?, profiles: [...]}");
    return undefined;
  }
  for (const [model, m] of Object.entries(raw.models)) {
    const path = joinPath("models", model);
    if (!isRecord(m)) {
      problems.add(path, m, "object", "give {memoryGiB?, profiles: [...]}");
      continue;
    }
    const out: ModelProfiles = { profiles: [] };
    const mem = nonNegative(m.memoryGiB, joinPath(path, "memoryGiB"), problems, false);
    if (mem !== undefined) out.memoryGiB = mem;
    if (!Array.isArray(m.profiles)) {
      problems.add(joinPath(path, "profiles"), m.profiles, "array", "list one profile per GPU type");
    } else {
      const seen = new Set<string>();
      m.profiles.forEach((p, i) => {
        const pp = `${joinPath(path, "profiles")}[${i}]`;
        const checked = checkProfile(p, pp, known, problems);
        if (!checked) return;
        if (seen.has(checked.gpu)) {
          problems.add(joinPath(pp, "gpu"), checked.gpu, "one profile per GPU type", "remove the duplicate");
        }
        seen.add(checked.gpu);
        out.profiles.push(checked);
      });
    }
    models[model] = out;
  }
  return { gpus, models };
}
