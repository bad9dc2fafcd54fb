// The cheapest GPU mix that serves a workload within its SLO (Mélange's formulation), solved with HiGHS.
//
// Bucket b (input × output tokens, rate r_b) on GPU type g costs r_b / T_g(b) "GPU-equivalents" when all of it goes
// there (T = the profile's SLO-meeting throughput). x_{b,g} is the share of b that g serves; replicas y_g are integers
// counted in 1/gpuFraction units (1 = whole replicas, what a PodAutoscaler can run):
//
//   minimise  Σ_g c_g · y_g / gpuFraction
//   s.t.      Σ_g x_{b,g} = 1                                   ∀b  (every bucket fully served)
//             Σ_b (gpuFraction · r_b / T_g(b)) · x_{b,g} ≤ y_g      ∀g  (capacity)
//             lower_g ≤ y_g ≤ upper_g                               (per-type min, max and the cluster's free GPUs)
//
// By default the shares are continuous, so the only integers are the (few) replica counts and HiGHS's branch and bound
// stays small: that is what makes whole replicas fast. With `sliceFactor` F each bucket is instead cut into F equal
// slices served whole by one type (Mélange's and upstream's discrete split): x_{b,g} = k_{b,g} / F with integer k,
// a larger search whose answer can cost more (a split the continuous model may use is forbidden).
import highsModule, { type Model } from "highs";
import type { GpuProfile } from "../api/gpu-profile.js";
import { MODEL_STATUS, mixModel, roundedIncumbent } from "./mix-model.js";

/** Requests per second of one request shape. */
export interface BucketLoad {
  inputTokens: number;
  outputTokens: number;
  rate: number;
}

export interface GpuTypeLimits {
  /** Replicas this type must keep even at zero load. */
  minReplicas?: number;
  /** Replicas this type may never exceed. */
  maxReplicas?: number;
  /** Replicas of this model already running on the type (their GPUs are not counted as free). */
  currentReplicas?: number;
  /** GPUs of this type free in the cluster; absent = unlimited. */
  freeGpus?: number;
  /** GPUs one replica occupies. */
  gpusPerReplica?: number;
}

export interface MilpInput {
  /** One profile per GPU type (the type name is `profile.gpu`, cost per hour `profile.cost`). */
  profiles: GpuProfile[];
  limits?: Record<string, GpuTypeLimits>;
  load: BucketLoad[];
  /** Slices per bucket, each served whole by one type (1 = each bucket on one type); absent = any split. */
  sliceFactor?: number;
  /** Replica units per replica (100 = hundredths of a replica). */
  gpuFraction?: number;
  /** Seconds HiGHS may spend before the best solution found so far is returned. */
  timeLimitSeconds?: number;
  /**
   * Stop once the mix is proven within this fraction of the cheapest (the LP bound or HiGHS's mip_rel_gap; 0 = exact).
   * The default 1 % keeps 6 types × 64 buckets within tens of milliseconds (bench/optimizer-solve); an exact proof can
   * take seconds on small fleets.
   */
  relativeGap?: number;
}

export interface BucketAssignment {
  inputTokens: number;
  outputTokens: number;
  rate: number;
  /** GPU type → share of the bucket's requests (sums to 1). */
  shares: Record<string, number>;
}

export interface MilpSolution {
  feasible: true;
  /** GPU type → replicas (a multiple of 1/gpuFraction). */
  replicas: Record<string, number>;
  /** Dollars per hour of that mix. */
  costPerHour: number;
  assignments: BucketAssignment[];
  /** False when the time limit stopped the search before the mix was proven within relativeGap of the cheapest. */
  optimal: boolean;
}

export interface MilpInfeasible {
  feasible: false;
  /** What cannot be met: the bucket or type and the constraint, in words a person can act on. */
  reasons: string[];
}

export type MilpResult = MilpSolution | MilpInfeasible;

interface Prepared {
  types: string[];
  costs: number[];
  lower: number[];
  upper: number[];
  load: BucketLoad[];
  /** gpuEq[b][g]: GPU-equivalents bucket b needs on type g when fully assigned there; undefined = type cannot serve it. */
  gpuEq: (number | undefined)[][];
}

/** How close to the cheapest mix a solve must prove its answer (see MilpInput.relativeGap). */
export const DEFAULT_RELATIVE_GAP = 0.01;

// The package's types describe its CommonJS build (loader under `.default`); its ESM build exports the loader itself.
type HighsLoader = typeof highsModule.default;
const highsLoader: HighsLoader = typeof highsModule === "function" ? (highsModule as HighsLoader) : highsModule.default;
type Highs = Awaited<ReturnType<HighsLoader>>;
let solverPromise: Promise<Highs> | undefined;

/** HiGHS compiled to WebAssembly, instantiated once per process (each solve still gets a fresh native model). */
function solver(): Promise<Highs> {
  solverPromise ??= highsLoader();
  return solverPromise;
}

/**
 * The SLO-meeting throughput of `profile` for a request shape: the smallest profiled bucket at or above each token
 * count (rounding up is the safe side), 0 when the shape exceeds every profiled bucket or the type misses the SLO.
 */
export function throughputFor(profile: GpuProfile, inputTokens: number, outputTokens: number): number {
  const [outs, ins] = profile.indexes;
  const o = outs.findIndex((v) => v >= outputTokens);
  const i = ins.findIndex((v) => v >= inputTokens);
  if (o < 0 || i < 0) return 0;
  return profile.tputs[o]?.[i] ?? 0;
}

function upperBound(limits: GpuTypeLimits, gpuFraction: number): number {
  let replicas = limits.maxReplicas ?? Infinity;
  if (limits.freeGpus !== undefined) {
    const perReplica = limits.gpusPerReplica ?? 1;
    replicas = Math.min(replicas, (limits.currentReplicas ?? 0) + Math.floor(limits.freeGpus / perReplica));
  }
  return replicas === Infinity ? Infinity : Math.floor(replicas * gpuFraction + 1e-9);
}

function describeBucket(b: BucketLoad): string {
  return `bucket input ${b.inputTokens} × output ${b.outputTokens} tokens (${b.rate} req/s)`;
}

function checkInput(input: MilpInput): void {
  const f = input.sliceFactor;
  const frac = input.gpuFraction ?? 1;
  if (f !== undefined && (!Number.isInteger(f) || f < 1)) {
    throw new RangeError(`sliceFactor ${f}: must be an integer >= 1, or absent for continuous shares`);
  }
  if (!Number.isInteger(frac) || frac < 1) throw new RangeError(`gpuFraction ${frac}: must be an integer >= 1`);
  const gap = input.relativeGap ?? DEFAULT_RELATIVE_GAP;
  if (!(gap >= 0 && gap < 1)) throw new RangeError(`relativeGap ${gap}: must be >= 0 and < 1`);
  const seen = new Set<string>();
  for (const p of input.profiles) {
    if (seen.has(p.gpu)) throw new RangeError(`profiles: GPU type "${p.gpu}" appears twice; give one profile per type`);
    seen.add(p.gpu);
  }
  input.load.forEach((b, i) => {
    if (!Number.isFinite(b.rate) || b.rate < 0) throw new RangeError(`load[${i}].rate ${b.rate}: must be >= 0`);
  });
}

function prepare(input: MilpInput): Prepared {
  const frac = input.gpuFraction ?? 1;
  const types = input.profiles.map((p) => p.gpu);
  const costs = input.profiles.map((p) => p.cost / frac);
  const limits = types.map((t) => input.limits?.[t] ?? {});
  const lower = limits.map((l) => Math.max(0, Math.ceil((l.minReplicas ?? 0) * frac - 1e-9)));
  const upper = limits.map((l) => upperBound(l, frac));
  const load = input.load.filter((b) => b.rate > 0);
  const gpuEq = load.map((b) =>
    input.profiles.map((p, g) => {
      const tput = throughputFor(p, b.inputTokens, b.outputTokens);
      return tput > 0 && upper[g]! > 0 ? (frac * b.rate) / tput : undefined;
    }),
  );
  return { types, costs, lower, upper, load, gpuEq };
}

/** Reasons no mix can exist, found without the solver: per-type bounds and buckets no type can take. */
function obviousInfeasibility(p: Prepared, frac: number): string[] {
  const reasons: string[] = [];
  p.types.forEach((t, g) => {
    if (p.lower[g]! > p.upper[g]!) {
      reasons.push(
        `GPU type ${t}: minimum ${p.lower[g]! / frac} replicas exceeds its limit of ${p.upper[g]! / frac} ` +
          `(maxReplicas or free GPUs); lower the minimum or free GPUs of that type`,
      );
    }
  });
  p.load.forEach((b, i) => {
    const row = p.gpuEq[i]!;
    if (row.every((x) => x === undefined)) {
      reasons.push(
        `${describeBucket(b)}: no GPU type with capacity meets the SLO for it (throughput 0 or unprofiled ` +
          `in every profile, or no replicas allowed); profile a larger GPU type or relax the SLO`,
      );
    }
  });
  return reasons;
}

/** When the solver finds no mix although each bucket has some type: name the buckets that alone overflow every type. */
function capacityReasons(p: Prepared, frac: number): string[] {
  const reasons: string[] = [];
  p.load.forEach((b, i) => {
    const fits = p.gpuEq[i]!.some((x, g) => x !== undefined && x <= p.upper[g]!);
    if (!fits) reasons.push(`${describeBucket(b)}: exceeds the capacity limit (maxReplicas / free GPUs) of every type`);
  });
  if (reasons.length === 0) {
    const caps = p.types.map((t, g) => `${t} ≤ ${p.upper[g]! / frac}`).join(", ");
    reasons.push(`the combined load exceeds the capacity limits (${caps}); raise maxReplicas or free GPUs`);
  }
  return reasons;
}

function zeroLoadSolution(p: Prepared, frac: number): MilpSolution {
  const replicas = Object.fromEntries(p.types.map((t, g) => [t, p.lower[g]! / frac]));
  const costPerHour = p.types.reduce((sum, _, g) => sum + p.costs[g]! * p.lower[g]!, 0);
  return { feasible: true, replicas, costPerHour, assignments: [], optimal: true };
}

/** Solves for the cheapest mix; never throws for an infeasible workload (that is a result), only for bad input. */
export async function solveMix(input: MilpInput): Promise<MilpResult> {
  checkInput(input);
  const frac = input.gpuFraction ?? 1;
  const slices = input.sliceFactor;
  const p = prepare(input);
  const obvious = obviousInfeasibility(p, frac);
  if (obvious.length > 0) return { feasible: false, reasons: obvious };
  if (p.load.length === 0) return zeroLoadSolution(p, frac);
  const highs = await solver();
  const { data, pairs } = mixModel(p, slices, slices !== undefined);
  const model = highs.createModel(data);
  let found: Found | undefined;
  try {
    // The time limit counts every run on this model together (HiGHS keeps one clock per instance).
    model.options.set({
      output_flag: false,
      time_limit: input.timeLimitSeconds ?? 10,
      mip_rel_gap: input.relativeGap ?? DEFAULT_RELATIVE_GAP,
    });
    found = slices === undefined ? searchFromIncumbent(model, p, input.relativeGap) : searchSlices(model);
  } finally {
    model.dispose();
  }
  if (found === undefined) return { feasible: false, reasons: capacityReasons(p, frac) };
  const columns = found.columns;
  const units = p.types.map((_, g) => Math.round(Math.max(0, columns[g]!)));
  const replicas = Object.fromEntries(p.types.map((t, g) => [t, units[g]! / frac]));
  const costPerHour = p.types.reduce((sum, _, g) => sum + p.costs[g]! * units[g]!, 0);
  const shareColumn = new Map(pairs.map(([b, g], j) => [b * p.types.length + g, p.types.length + j]));
  const share = (b: number, g: number) => Math.max(0, columns[shareColumn.get(b * p.types.length + g) ?? -1] ?? 0);
  const assignments = p.load.map((b, bi) => ({ ...b, shares: sharesOf(p, bi, slices, share) }));
  return { feasible: true, replicas, costPerHour, assignments, optimal: found.optimal };
}

/** A solved model's columns, and whether they are proven within the gap of the cheapest. */
interface Found {
  columns: Float64Array;
  optimal: boolean;
}

/** HiGHS's primal_solution_status for "a feasible solution is held". */
const FEASIBLE_SOLUTION = 2;

/** Undefined when no mix exists; throws when HiGHS stops for any reason but the answer or its time limit. */
function outcome(model: Model, what: string): Found | undefined {
  const status = model.getModelStatus();
  // Costs are >= 0 and replicas >= 0, so "infeasible or unbounded" can only mean infeasible here.
  if (status === MODEL_STATUS.infeasible || status === MODEL_STATUS.infeasibleOrUnbounded) return undefined;
  const held = model.info.get("primal_solution_status") === FEASIBLE_SOLUTION;
  if (status === MODEL_STATUS.optimal) return { columns: model.getSolution().colValue, optimal: true };
  if (status === MODEL_STATUS.timeLimit && held) return { columns: model.getSolution().colValue, optimal: false };
  throw new Error(`HiGHS stopped with model status ${status} on the GPU mix ${what}`);
}

/** Upstream's discrete split: every share column is an integer count of slices; HiGHS's own search, defaults. */
function searchSlices(model: Model): Found | undefined {
  model.run();
  return outcome(model, "model");
}

/** HiGHS's own primal heuristics, redundant once the rounding heuristic has handed it an incumbent. */
const WITH_INCUMBENT = {
  mip_heuristic_effort: 0,
  mip_heuristic_run_feasibility_jump: false,
  mip_heuristic_run_rins: false,
  mip_heuristic_run_rens: false,
  mip_heuristic_run_root_reduced_cost: false,
};

/**
 * Continuous shares: the LP relaxation (its cost bounds every whole mix from below), a rounded incumbent from it, and
 * branch and bound only when that incumbent is not already within the gap of the bound.
 */
function searchFromIncumbent(model: Model, p: Prepared, relativeGap = DEFAULT_RELATIVE_GAP): Found | undefined {
  model.run();
  const relaxed = outcome(model, "LP relaxation");
  if (relaxed === undefined) return undefined;
  if (!relaxed.optimal)
    return { columns: relaxed.columns.map((x, j) => (j < p.types.length ? Math.ceil(x) : x)), optimal: false };
  const bound = model.getObjectiveValue();
  const incumbent = roundedIncumbent(model, p);
  const cost = (columns: Float64Array) => p.costs.reduce((sum, c, g) => sum + c * Math.round(columns[g]!), 0);
  if (cost(incumbent) - bound <= relativeGap * cost(incumbent) + 1e-9) return { columns: incumbent, optimal: true };
  const types = p.types.length;
  model.changeColsIntegrality({ kind: "range", from: 0, to: types - 1 }, new Int32Array(types).fill(1));
  model.options.set(WITH_INCUMBENT);
  model.setSolution({ colValue: incumbent });
  model.run();
  const searched = outcome(model, "model");
  if (searched === undefined || cost(searched.columns) > cost(incumbent)) return { columns: incumbent, optimal: false };
  return searched;
}

/** Bucket bi's shares per type: whole slices over F, or the continuous shares cleaned of solver dust and summing to 1. */
function sharesOf(p: Prepared, bi: number, slices: number | undefined, share: (b: number, g: number) => number) {
  const raw = p.gpuEq[bi]!.map((eq, g) => {
    if (eq === undefined) return 0;
    const x = share(bi, g);
    return slices === undefined ? (x < 1e-9 ? 0 : x) : Math.round(x) / slices;
  });
  const total = raw.reduce((a, b) => a + b, 0);
  const shares: Record<string, number> = {};
  raw.forEach((x, g) => {
    if (x > 0) shares[p.types[g]!] = x / total;
  });
  return shares;
}
