// Capacity of one model, as the fair queue asks for it: configured concurrency (shared leases) and, when the server
// has handed over its fleet view, engine saturation (queue depth and KV-cache thresholds).
//
// Scraped metrics lag the traffic by up to one scrape interval, so while the fleet looks unsaturated the gate lets
// through from the queue, per interval, at most the fleet's queue headroom (Σ queueDepth − waiting over usable
// endpoints) plus the requests that finished in that interval: without the first bound a long queue would empty into
// the engines the moment one scrape showed room; without the second the queue would drain at headroom per interval
// whatever the engines complete (5 per 100 ms scrape: 50 requests/s an engine), idling engines that finish faster.
// Requests that find no queue go straight through while any endpoint is usable (no throttling of an unsaturated fleet).
import type { FlowFleetView } from "./control.js";
import type { CapacityGate } from "./fairness/fair-queue.js";
import { endpointUtilisation, hasSignal, isSaturated, type SaturationThresholds } from "./fairness/saturation.js";
import type { RateLimiter } from "./limits/limiter.js";

export class ModelGate implements CapacityGate {
  fleet?: FlowFleetView;
  private readonly inFlight = new Map<string, number>();
  /** When requests of each model left the queue for an engine, over the last interval. */
  private readonly fromQueue = new Map<string, number[]>();
  /** When each model's requests finished (or gave back a lease unused), over the last interval. */
  private readonly finished = new Map<string, number[]>();

  constructor(
    private readonly limiter: RateLimiter,
    private readonly thresholds: SaturationThresholds,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async tryAcquire(model: string, id: string, fromQueue: boolean): Promise<boolean> {
    if (!this.fleetHasRoom(model, fromQueue)) return false;
    let ok: boolean;
    try {
      ok = await this.limiter.acquireConcurrency(model, id);
    } catch {
      ok = false; // fail-closed and Redis is away: nothing may start
    }
    if (!ok) return false;
    this.inFlight.set(model, (this.inFlight.get(model) ?? 0) + 1);
    if (this.fleet && fromQueue) this.lastInterval(this.fromQueue, model).push(this.now());
    return true;
  }

  release(model: string, id: string): void {
    this.inFlight.set(model, Math.max(0, (this.inFlight.get(model) ?? 0) - 1));
    if (this.fleet) this.lastInterval(this.finished, model).push(this.now());
    void this.limiter.releaseConcurrency(model, id);
  }

  saturated(model: string): boolean {
    if (this.fleet && isSaturated(this.fleet.endpoints(model), this.thresholds)) return true;
    const limit = this.limiter.modelLimits(model).concurrency;
    return limit !== undefined && (this.inFlight.get(model) ?? 0) >= limit;
  }

  private fleetHasRoom(model: string, fromQueue: boolean): boolean {
    if (!this.fleet) return true;
    const eps = this.fleet.endpoints(model);
    // No endpoints: the server answers "no ready endpoint" itself. No fresh metrics: no signal to hold traffic on.
    if (!hasSignal(eps)) return true;
    let headroom = 0;
    for (const ep of eps) {
      if (endpointUtilisation(ep, this.thresholds) > 1) continue;
      headroom += Math.max(1, Math.floor(this.thresholds.queueDepth - (ep.waiting ?? 0)));
    }
    if (headroom === 0) return false;
    if (!fromQueue) return true;
    // A finished request freed a slot the last scrape still counted as busy.
    return this.lastInterval(this.fromQueue, model).length < headroom + this.lastInterval(this.finished, model).length;
  }

  /** The model's timestamps in `times` from the last interval (older ones dropped). */
  private lastInterval(times: Map<string, number[]>, model: string): number[] {
    let list = times.get(model);
    if (!list) {
      list = [];
      times.set(model, list);
    }
    const cutoff = this.now() - this.intervalMs;
    while (list.length > 0 && list[0]! <= cutoff) list.shift();
    return list;
  }
}
