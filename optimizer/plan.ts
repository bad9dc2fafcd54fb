// One model's plan: from its Deployments (one per GPU type), their profiles, the cluster's free GPUs and the workload
// window's rates to replicas per Deployment. Buckets no profiled type can serve within the SLO are left out of the
// MILP and reported (coverage < 1) rather than making the whole model infeasible.
import type { GpuProfile, ProfileSet } from "../api/gpu-profile.js";
import type { ModelDeployment } from "./fleet.js";
import { solveMix, throughputFor, type BucketAssignment, type BucketLoad, type GpuTypeLimits } from "./milp.js";
import type { WindowRates } from "./window.js";

export interface PlanInput {
  model: string;
  deployments: readonly ModelDeployment[];
  profiles: ProfileSet;
  /** Free GPUs per type; undefined = the cluster's capacity is unknown (no limit). */
  freeGpus?: Record<string, number>;
  rates: WindowRates;
  /** Replica units per replica the MILP counts in; default PLAN_DEFAULTS.gpuFraction. */
  gpuFraction?: number;
  /** Slices per bucket (see MilpInput.sliceFactor); absent = continuous shares. */
  sliceFactor?: number;
}

/**
 * What the optimizer service solves with unless told otherwise (the benchmarks measure these): whole replicas, since
 * each type's PodAutoscaler runs ceil(published) pods on its own and a fractional plan rounded up type by type costs
 * far more than the cheapest whole-replica mix; continuous bucket shares, which keep that MILP small.
 */
export const PLAN_DEFAULTS: { readonly gpuFraction: number; readonly sliceFactor?: number } = { gpuFraction: 1 };

export interface ModelPlan {
  model: string;
  /** Unix seconds. */
  solvedAt: number;
  /** λ, req/s. */
  rate: number;
  /** Share of the rate in buckets some profiled type serves within the SLO (1 = all of it). */
  coverage: number;
  /** Buckets left out because no type meets the SLO for them. */
  unservable: BucketLoad[];
  feasible: boolean;
  /** Why no mix exists (when not feasible), or what was left out. */
  reasons: string[];
  /** GPU type → replicas (whole numbers by default; multiples of 1/gpuFraction). */
  byType: Record<string, number>;
  /** "namespace/name" → replicas. */
  byDeployment: Record<string, number>;
  costPerHour: number;
  /** Per bucket: the share of its requests each type serves in the plan (empty when not feasible). */
  assignments: BucketAssignment[];
  solveMs: number;
  optimal: boolean;
}

function profilesFor(input: PlanInput, types: readonly string[]): GpuProfile[] {
  const all = input.profiles.doc.models[input.model]?.profiles ?? [];
  return all.filter((p) => types.includes(p.gpu));
}

function limitsFor(input: PlanInput, types: readonly string[]): Record<string, GpuTypeLimits> {
  const limits: Record<string, GpuTypeLimits> = {};
  for (const t of types) {
    const ds = input.deployments.filter((d) => d.gpuType === t);
    limits[t] = {
      minReplicas: ds.reduce((s, d) => s + d.minReplicas, 0),
      currentReplicas: ds.reduce((s, d) => s + d.replicas, 0),
      gpusPerReplica: Math.max(1, ...ds.map((d) => d.gpusPerReplica)),
      ...(input.freeGpus ? { freeGpus: input.freeGpus[t] ?? 0 } : {}),
    };
  }
  return limits;
}

/** Splits each type's replicas over its Deployments (evenly, in 1/gpuFraction steps, the remainder to the first). */
function splitByDeployment(input: PlanInput, byType: Record<string, number>): Record<string, number> {
  const gpuFraction = input.gpuFraction ?? PLAN_DEFAULTS.gpuFraction;
  const out: Record<string, number> = {};
  for (const [t, replicas] of Object.entries(byType)) {
    const ds = input.deployments.filter((d) => d.gpuType === t);
    const units = Math.round(replicas * gpuFraction);
    ds.forEach((d, i) => {
      const share = Math.floor(units / ds.length) + (i === 0 ? units % ds.length : 0);
      out[`${d.namespace}/${d.name}`] = share / gpuFraction;
    });
  }
  return out;
}

export async function planModel(input: PlanInput, now = Date.now() / 1000): Promise<ModelPlan> {
  const types = [...new Set(input.deployments.flatMap((d) => (d.gpuType ? [d.gpuType] : [])))].sort();
  const profiles = profilesFor(input, types);
  const servable = (b: BucketLoad) => profiles.some((p) => throughputFor(p, b.inputTokens, b.outputTokens) > 0);
  const load = input.rates.buckets.filter(servable);
  const unservable = input.rates.buckets.filter((b) => !servable(b));
  const total = input.rates.buckets.reduce((s, b) => s + b.rate, 0);
  const left = unservable.reduce((s, b) => s + b.rate, 0);
  const base = {
    model: input.model,
    solvedAt: now,
    rate: input.rates.totalRate,
    coverage: total > 0 ? 1 - left / total : 1,
    unservable,
  };
  const dropped = unservable.map(
    (b) =>
      `input ${b.inputTokens} × output ${b.outputTokens} tokens (${b.rate.toFixed(3)} req/s): no profiled GPU type meets the SLO`,
  );
  if (profiles.length === 0) {
    const reasons = [`model ${input.model}: no Deployment runs on a profiled GPU type`];
    return {
      ...base,
      feasible: false,
      reasons,
      byType: {},
      byDeployment: {},
      costPerHour: 0,
      assignments: [],
      solveMs: 0,
      optimal: false,
    };
  }
  const t0 = performance.now();
  const sliceFactor = input.sliceFactor ?? PLAN_DEFAULTS.sliceFactor;
  const result = await solveMix({
    profiles,
    limits: limitsFor(input, types),
    load,
    gpuFraction: input.gpuFraction ?? PLAN_DEFAULTS.gpuFraction,
    ...(sliceFactor === undefined ? {} : { sliceFactor }),
  });
  const solveMs = performance.now() - t0;
  if (!result.feasible) {
    return {
      ...base,
      feasible: false,
      reasons: [...result.reasons, ...dropped],
      byType: {},
      byDeployment: {},
      costPerHour: 0,
      assignments: [],
      solveMs,
      optimal: false,
    };
  }
  return {
    ...base,
    feasible: true,
    reasons: dropped,
    byType: result.replicas,
    byDeployment: splitByDeployment(input, result.replicas),
    costPerHour: result.costPerHour,
    assignments: result.assignments,
    solveMs,
    optimal: result.optimal,
  };
}
