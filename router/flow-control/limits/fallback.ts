// The local state that stands in for Redis while it cannot be reached, kept so that failing open does not multiply
// every limit by the number of replicas:
// - each charge Redis accepts is mirrored locally, so the local windows already hold this replica's recent traffic
//   when Redis goes away (the window does not start again empty);
// - while Redis is away, each replica enforces its share of every limit (the limit ÷ the replicas last seen sharing
//   Redis, rounded up so a limit of 1 still admits), so N replicas failing open together admit about the limit;
// - what was admitted locally is replayed into Redis once it answers, so a window spanning the outage counts it.
import { MapEvictor } from "../../../api/map-evictor.js";
import type { LeaseStore, MemoryLeaseStore } from "./leases.js";
import {
  currentBucket,
  type HitResult,
  type MemoryWindowStore,
  type WindowSpec,
  type WindowStore,
} from "./window-store.js";

/** Remote first; whatever the remote accepted is recorded locally too. */
export class MirroredWindowStore implements WindowStore {
  constructor(
    private readonly remote: WindowStore,
    private readonly local: MemoryWindowStore,
  ) {}

  async hit(key: string, spec: WindowSpec, limit: number, cost: number, nowMs: number, mustFit = true) {
    const result = await this.remote.hit(key, spec, limit, cost, nowMs, mustFit);
    if (result.allowed) await this.local.add(key, spec, cost, nowMs);
    return result;
  }

  async add(key: string, spec: WindowSpec, amount: number, nowMs: number, bucket = -1): Promise<void> {
    await this.remote.add(key, spec, amount, nowMs, bucket);
    // Remote bucket numbers come from Redis's clock; locally the charge lands in the current bucket.
    await this.local.add(key, spec, amount, nowMs);
  }

  usage(key: string, spec: WindowSpec, nowMs: number): Promise<number> {
    return this.remote.usage(key, spec, nowMs);
  }
}

interface PendingCharge {
  key: string;
  spec: WindowSpec;
  bucket: number;
  amount: number;
}

/** Charges made locally while Redis was away, summed per key and bucket, waiting to be replayed into Redis. */
export class PendingCharges {
  private readonly charges = new Map<string, PendingCharge>();
  private readonly evictor = new MapEvictor(this.charges);

  /** Beyond `capacity` key-buckets the oldest are dropped: a long outage must not grow memory without bound. */
  constructor(private readonly capacity = 100_000) {}

  get size(): number {
    return this.charges.size;
  }

  record(key: string, spec: WindowSpec, amount: number, bucket: number): void {
    const id = `${key}\u0000${spec.windowMs}/${spec.slices}\u0000${bucket}`;
    const entry = this.charges.get(id);
    if (entry) entry.amount += amount;
    else this.charges.set(id, { key, spec, bucket, amount });
    if (this.charges.size > this.capacity) this.evictor.evictOldest();
  }

  /** Replays every charge into `remote`; one that fails stays for the next attempt, and the rest wait behind it. */
  async replay(remote: WindowStore, nowMs: () => number): Promise<void> {
    for (const [id, c] of this.charges) {
      // Bucket numbers are this replica's; Redis drops one already outside its own window.
      if (c.amount !== 0) await remote.add(c.key, c.spec, c.amount, nowMs(), c.bucket);
      this.charges.delete(id);
    }
  }
}

/** Scales a limit to this replica's share, never below 1 where the limit itself is at least 1. */
export function shareOf(limit: number, share: number): number {
  if (!Number.isFinite(limit)) return limit;
  return Math.max(Math.min(limit, 1), Math.ceil(limit * share));
}

/** The local windows with each limit scaled to this replica's share; what they admit is kept for replay. */
export class ReplicaShareWindowStore implements WindowStore {
  constructor(
    private readonly local: MemoryWindowStore,
    private readonly share: () => number,
    private readonly pending: PendingCharges,
  ) {}

  async hit(
    key: string,
    spec: WindowSpec,
    limit: number,
    cost: number,
    nowMs: number,
    mustFit = true,
  ): Promise<HitResult> {
    const result = this.local.hitSync(key, spec, shareOf(limit, this.share()), cost, nowMs, mustFit);
    if (result.allowed) this.pending.record(key, spec, cost, result.bucket);
    return result;
  }

  async add(key: string, spec: WindowSpec, amount: number, nowMs: number, bucket = -1): Promise<void> {
    await this.local.add(key, spec, amount, nowMs, bucket);
    this.pending.record(key, spec, amount, bucket >= 0 ? bucket : currentBucket(spec, nowMs));
  }

  usage(key: string, spec: WindowSpec, nowMs: number): Promise<number> {
    return this.local.usage(key, spec, nowMs);
  }
}

/** Remote leases, each also held locally (without a limit) so local counts include this replica's requests. */
export class MirroredLeaseStore implements LeaseStore {
  constructor(
    private readonly remote: LeaseStore,
    private readonly local: MemoryLeaseStore,
  ) {}

  async acquire(key: string, limit: number, leaseMs: number, member: string): Promise<boolean> {
    const ok = await this.remote.acquire(key, limit, leaseMs, member);
    if (ok) await this.local.acquire(key, Infinity, leaseMs, member);
    return ok;
  }

  async release(key: string, member: string): Promise<void> {
    await this.local.release(key, member);
    await this.remote.release(key, member);
  }

  count(key: string): Promise<number> {
    return this.remote.count(key);
  }
}

/** Local leases with each limit scaled to this replica's share. */
export class ReplicaShareLeaseStore implements LeaseStore {
  constructor(
    private readonly local: MemoryLeaseStore,
    private readonly share: () => number,
  ) {}

  acquire(key: string, limit: number, leaseMs: number, member: string): Promise<boolean> {
    return this.local.acquire(key, shareOf(limit, this.share()), leaseMs, member);
  }

  release(key: string, member: string): Promise<void> {
    return this.local.release(key, member);
  }

  count(key: string): Promise<number> {
    return this.local.count(key);
  }
}
