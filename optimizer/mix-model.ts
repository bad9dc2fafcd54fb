// The GPU-mix MILP as HiGHS column arrays, and the rounding heuristic that gives branch and bound its incumbent.
//
// Columns: y_g (replica units per type) first, then one share column per (bucket, type) pair the type can serve.
// Rows: one "serve" row per bucket (its shares sum to 1, or to F slices), then one "capacity" row per type.
//
// Why a heuristic of our own: with continuous shares the only integers are the few replica counts, so HiGHS closes the
// search at its root node, but on small fleets (tens of replicas) the LP bound sits 1–5 % under the cheapest whole
// mix and HiGHS spends its time in root heuristics (RINS/RENS sub-MIPs, feasibility jump) hunting for an incumbent.
// Rounding the LP's replicas up and then trading replicas down, a few warm-started LPs on the same model, finds a mix
// as cheap as those heuristics do; with it as the incumbent the MIP only has to prove the bound.
import type { Model, ModelData } from "highs";

/** The model's numbers, per type g and bucket b (see milp.ts's `Prepared`). */
export interface MixData {
  /** Cost per replica unit. */
  costs: readonly number[];
  lower: readonly number[];
  /** Infinity = no limit. */
  upper: readonly number[];
  /** gpuEq[b][g]: replica units bucket b needs on type g when fully assigned there; undefined = g cannot serve b. */
  gpuEq: readonly (readonly (number | undefined)[])[];
}

export interface MixModel {
  data: ModelData;
  /** Column G + j is the share of bucket pairs[j][0] on type pairs[j][1]. */
  pairs: [number, number][];
}

/**
 * The model as arrays (no LP text to write and parse). With `slices` undefined shares are continuous in [0, 1] and only
 * y is integer; otherwise share columns count whole slices (0..slices, integer) and each bucket's slices sum to it.
 * `integerReplicas` false leaves y continuous too (the LP relaxation the heuristic starts from).
 */
export function mixModel(p: MixData, slices: number | undefined, integerReplicas: boolean): MixModel {
  const types = p.costs.length;
  const buckets = p.gpuEq.length;
  const whole = slices ?? 1;
  const pairs: [number, number][] = [];
  p.gpuEq.forEach((row, b) => row.forEach((eq, g) => eq !== undefined && pairs.push([b, g])));
  const numCols = types + pairs.length;
  const numRows = buckets + types;
  const colCost = new Float64Array(numCols);
  const colLower = new Float64Array(numCols);
  const colUpper = new Float64Array(numCols);
  const integrality = new Int32Array(numCols);
  const starts = new Int32Array(numCols + 1);
  const indices = new Int32Array(types + 2 * pairs.length);
  const values = new Float64Array(types + 2 * pairs.length);
  let nz = 0;
  for (let g = 0; g < types; g++) {
    colCost[g] = p.costs[g]!;
    colLower[g] = p.lower[g]!;
    colUpper[g] = p.upper[g]!;
    integrality[g] = integerReplicas ? 1 : 0;
    starts[g] = nz;
    indices[nz] = buckets + g;
    values[nz++] = -1;
  }
  pairs.forEach(([b, g], j) => {
    const col = types + j;
    colUpper[col] = whole;
    integrality[col] = slices === undefined ? 0 : 1;
    starts[col] = nz;
    indices[nz] = b;
    values[nz++] = 1;
    indices[nz] = buckets + g;
    values[nz++] = p.gpuEq[b]![g]! / whole;
  });
  starts[numCols] = nz;
  const rowLower = new Float64Array(numRows).fill(whole, 0, buckets).fill(-Infinity, buckets);
  const rowUpper = new Float64Array(numRows).fill(whole, 0, buckets);
  const matrix = { format: "csc" as const, numRows, numCols, starts, indices, values };
  const data = { numCols, numRows, colCost, colLower, colUpper, rowLower, rowUpper, matrix, integrality };
  return { data, pairs };
}

/** At most this many LPs per heuristic run: each is a warm-started dual simplex of well under a millisecond. */
const HEURISTIC_LP_BUDGET = 60;
/** HiGHS's model status codes the optimizer reads (HighsModelStatus). */
export const MODEL_STATUS = { optimal: 7, infeasible: 8, infeasibleOrUnbounded: 9, timeLimit: 13 } as const;

/**
 * A whole-replica mix from the LP relaxation just solved on `model` (y continuous): every type's replicas rounded up
 * (always feasible: capacity only grows), then, most expensive type first, one replica taken away while the buckets
 * still fit, and one replica moved from a dearer type to a cheaper one while that fits. Each check is the LP with y
 * capped at the candidate counts. Returns the full column vector of the cheapest mix found (y rounded), with the
 * model's y bounds restored.
 */
export function roundedIncumbent(model: Model, p: MixData): Float64Array {
  const types = p.costs.length;
  const range = { kind: "range" as const, from: 0, to: types - 1 };
  const relaxed = model.getSolution().colValue;
  const units = p.costs.map((_, g) => Math.max(p.lower[g]!, Math.ceil(relaxed[g]! - 1e-6)));
  let lps = 0;
  const fits = (candidate: number[]): Float64Array | undefined => {
    lps++;
    model.changeColsBounds(range, Float64Array.from(p.lower), Float64Array.from(candidate));
    model.run();
    return model.getModelStatus() === MODEL_STATUS.optimal ? model.getSolution().colValue : undefined;
  };
  let best = fits(units) ?? Float64Array.from(relaxed);
  const dearestFirst = [...units.keys()].sort((a, b) => p.costs[b]! - p.costs[a]!);
  const tryMove = (from: number, to: number | undefined): boolean => {
    if (lps >= HEURISTIC_LP_BUDGET || units[from]! <= p.lower[from]!) return false;
    if (to !== undefined && (p.costs[to]! >= p.costs[from]! || units[to]! >= p.upper[to]!)) return false;
    units[from]!--;
    if (to !== undefined) units[to]!++;
    const solution = fits(units);
    if (solution) best = solution;
    else {
      units[from]!++;
      if (to !== undefined) units[to]!--;
    }
    return solution !== undefined;
  };
  for (const g of dearestFirst) while (tryMove(g, undefined));
  let moved = true;
  while (moved && lps < HEURISTIC_LP_BUDGET) {
    moved = false;
    for (const from of dearestFirst) for (const to of dearestFirst) if (from !== to && tryMove(from, to)) moved = true;
  }
  model.changeColsBounds(range, Float64Array.from(p.lower), Float64Array.from(p.upper));
  const incumbent = Float64Array.from(best);
  units.forEach((u, g) => (incumbent[g] = u));
  return incumbent;
}
