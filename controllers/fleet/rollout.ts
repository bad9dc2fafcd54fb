// The rollout planner: given a fleet's desired replicas, its strategy and the replica sets it owns (the one for the
// current template and the older ones), how many RayClusters each replica set should ask for next. Pure arithmetic
// with the Deployment controller's rules, so a person who knows `kubectl rollout` can predict every step.
import { parseIntOrPercent } from "../../api/semantics.js";

/** One replica set as the planner sees it: what it asks for and how many of its clusters are available. */
export interface ReplicaSetCounts {
  name: string;
  /** spec.replicas */
  replicas: number;
  /** status.availableReplicas */
  available: number;
}

export interface RollingParams {
  maxSurge: number;
  maxUnavailable: number;
}

/**
 * A percentage of `total`, rounded up (maxSurge) or down (maxUnavailable) as the Deployment controller does; an
 * integer stands for itself; an unset value takes `fallback`.
 */
export function resolveIntOrPercent(
  value: number | string | undefined,
  total: number,
  roundUp: boolean,
  fallback: string,
): number {
  const parsed = parseIntOrPercent(value ?? fallback) ?? parseIntOrPercent(fallback)!;
  if (!parsed.percent) return parsed.n;
  const exact = (parsed.n * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/**
 * maxSurge and maxUnavailable as counts of clusters for `replicas`. Both zero would never progress, so
 * maxUnavailable becomes 1 then (the Deployment controller's fencepost rule).
 */
export function rollingParams(
  replicas: number,
  rollingUpdate: { maxSurge?: number | string; maxUnavailable?: number | string } | undefined,
): RollingParams {
  const maxSurge = resolveIntOrPercent(rollingUpdate?.maxSurge, replicas, true, "25%");
  let maxUnavailable = resolveIntOrPercent(rollingUpdate?.maxUnavailable, replicas, false, "25%");
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, replicas) };
}

const sum = (sets: readonly ReplicaSetCounts[], f: (s: ReplicaSetCounts) => number): number =>
  sets.reduce((n, s) => n + f(s), 0);

/** How many clusters the new replica set may ask for now: up to `replicas`, never past replicas + maxSurge in all. */
export function newReplicaSetTarget(
  replicas: number,
  params: RollingParams,
  newSet: ReplicaSetCounts,
  oldSets: readonly ReplicaSetCounts[],
): number {
  if (newSet.replicas >= replicas) return replicas;
  const maxTotal = replicas + params.maxSurge;
  const current = newSet.replicas + sum(oldSets, (s) => s.replicas);
  if (current >= maxTotal) return newSet.replicas;
  return newSet.replicas + Math.min(maxTotal - current, replicas - newSet.replicas);
}

/**
 * The old replica sets' next sizes (by name), keeping at least replicas − maxUnavailable clusters available. First
 * their unavailable clusters go (they serve nothing), then available ones, oldest replica set first, only as far as
 * the new replica set's available clusters make up for them.
 */
export function oldReplicaSetTargets(
  replicas: number,
  params: RollingParams,
  newSet: ReplicaSetCounts,
  oldSets: readonly ReplicaSetCounts[],
): Map<string, number> {
  const targets = new Map(oldSets.map((s) => [s.name, s.replicas]));
  if (sum(oldSets, (s) => s.replicas) === 0) return targets;
  const minAvailable = replicas - params.maxUnavailable;
  const newUnavailable = Math.max(0, newSet.replicas - newSet.available);
  const allReplicas = newSet.replicas + sum(oldSets, (s) => s.replicas);
  let budget = allReplicas - minAvailable - newUnavailable;
  if (budget <= 0) return targets;
  // Unavailable clusters of old sets first: removing them costs no availability.
  for (const s of oldSets) {
    if (budget <= 0) break;
    const unavailable = Math.max(0, s.replicas - s.available);
    const cut = Math.min(budget, unavailable);
    if (cut > 0) {
      targets.set(s.name, s.replicas - cut);
      budget -= cut;
    }
  }
  // Then available ones, down to the availability floor.
  const availableNow =
    newSet.available + oldSets.reduce((n, s) => n + Math.min(s.available, targets.get(s.name) ?? 0), 0);
  let scaleDown = availableNow - minAvailable;
  for (const s of oldSets) {
    if (scaleDown <= 0) break;
    const size = targets.get(s.name) ?? 0;
    const cut = Math.min(size, scaleDown);
    if (cut > 0) {
      targets.set(s.name, size - cut);
      scaleDown -= cut;
    }
  }
  return targets;
}

/**
 * Recreate: old replica sets go to zero first; the new one is scaled up only once no old cluster is left
 * (`oldClustersLeft` counts clusters still existing, deleting ones included).
 */
export function recreateTargets(
  replicas: number,
  newSet: ReplicaSetCounts | undefined,
  oldSets: readonly ReplicaSetCounts[],
  oldClustersLeft: number,
): { newReplicas: number; old: Map<string, number> } {
  const old = new Map(oldSets.map((s) => [s.name, 0]));
  const oldAsked = sum(oldSets, (s) => s.replicas);
  const newReplicas = oldAsked === 0 && oldClustersLeft === 0 ? replicas : (newSet?.replicas ?? 0);
  return { newReplicas, old };
}

/**
 * Proportional scaling when the fleet's replicas change mid-rollout: the clusters to add (or remove) are shared among
 * the active replica sets in proportion to their size against the max-replicas they were last sized for, largest
 * first, leftovers to the largest (the Deployment controller's rule, so a scale mid-rollout keeps the old/new ratio).
 */
export function proportionalTargets(
  replicas: number,
  params: RollingParams,
  active: readonly (ReplicaSetCounts & { annotatedMaxReplicas?: number; createdAt: string })[],
  fallbackMaxReplicas: number,
): Map<string, number> {
  const targets = new Map(active.map((s) => [s.name, s.replicas]));
  const allowed = replicas + params.maxSurge;
  const toAdd = allowed - sum(active, (s) => s.replicas);
  if (toAdd === 0 || active.length === 0) return targets;
  // Largest first; ties: newer first when adding, older first when removing.
  const ordered = [...active].sort(
    (a, b) =>
      b.replicas - a.replicas ||
      (toAdd > 0 ? b.createdAt.localeCompare(a.createdAt) : a.createdAt.localeCompare(b.createdAt)) ||
      a.name.localeCompare(b.name),
  );
  let added = 0;
  for (const s of ordered) {
    const annotated = s.annotatedMaxReplicas ?? fallbackMaxReplicas;
    const fraction =
      replicas === 0 ? -s.replicas : annotated > 0 ? Math.round((s.replicas * allowed) / annotated) - s.replicas : 0;
    const share = toAdd > 0 ? Math.min(fraction, toAdd - added) : Math.max(fraction, toAdd - added);
    targets.set(s.name, s.replicas + share);
    added += share;
  }
  const largest = ordered[0]!.name;
  targets.set(largest, Math.max(0, targets.get(largest)! + toAdd - added));
  return targets;
}
