// Is a model's fleet saturated? Defaults follow the inference-extension detector: queue depth 5 and KV usage 0.8.
// A model is saturated when no endpoint with fresh metrics is under both thresholds.
import type { FleetEndpointState } from "../control.js";

export interface SaturationThresholds {
  /** Engine waiting-queue depth above which an endpoint is saturated. */
  queueDepth: number;
  /** KV-cache usage (0..1) above which an endpoint is saturated. */
  kvCacheUsage: number;
}

export const defaultSaturation: SaturationThresholds = { queueDepth: 5, kvCacheUsage: 0.8 };

/** Endpoint utilisation: max(waiting / queueDepth, kv / kvCacheUsage); stale or ejected endpoints are unusable. */
export function endpointUtilisation(ep: FleetEndpointState, t: SaturationThresholds): number {
  if (ep.stale || ep.ejected) return Infinity;
  const q = (ep.waiting ?? 0) / t.queueDepth;
  const kv = (ep.kvUsage ?? 0) / t.kvCacheUsage;
  return Math.max(q, kv);
}

/** True when at least one endpoint has fresh metrics: only then is there a saturation signal at all. */
export function hasSignal(eps: readonly FleetEndpointState[]): boolean {
  return eps.some((ep) => !ep.stale && !ep.ejected);
}

/**
 * Saturated iff some endpoint reports fresh metrics and none of the fresh ones is under both thresholds. A fleet with
 * no fresh metrics at all (engines without `/metrics`, or before the first scrape) gives no signal and is never
 * called saturated: flow control must not hold traffic on missing data.
 */
export function isSaturated(eps: readonly FleetEndpointState[], t: SaturationThresholds): boolean {
  if (!hasSignal(eps)) return false;
  for (const ep of eps) if (endpointUtilisation(ep, t) <= 1) return false;
  return true;
}
