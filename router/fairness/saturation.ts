// Is a model's fleet saturated? Defaults follow the inference-extension detector: queue depth 5 and KV usage 0.8.
// A model is saturated when no endpoint is usable, i.e. every endpoint is stale, ejected, or over a threshold.
import type { FleetEndpointState } from "../admission.js";

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

/** Endpoints that can take more work now (utilisation at or below 1). An empty fleet is not "saturated". */
export function unsaturatedEndpoints(eps: readonly FleetEndpointState[], t: SaturationThresholds): number {
  let n = 0;
  for (const ep of eps) if (endpointUtilisation(ep, t) <= 1) n++;
  return n;
}

export function isSaturated(eps: readonly FleetEndpointState[], t: SaturationThresholds): boolean {
  return eps.length > 0 && unsaturatedEndpoints(eps, t) === 0;
}
