// Sliding-window counters: the one primitive every limit is built from (RPM, TPM, per-model RPS).
//
// A window of `windowMs` is split into `slices` equal sub-buckets. A bucket counts toward the window while any part of
// it is still inside the window, so the limit errs on the strict side by at most one slice (1/slices of the window),
// never on the lenient side. Cost-weighted hits (tokens) use the same shape as request counts (cost 1).

export interface WindowSpec {
  /** Window length in milliseconds (60 000 for "per minute"). */
  windowMs: number;
  /** Number of sub-buckets; more = closer to a true sliding window, more memory. */
  slices: number;
}

export interface HitResult {
  allowed: boolean;
  /** Usage inside the window after this call (unchanged when not allowed). */
  used: number;
  /** Bucket the cost was recorded in (for later refunds); -1 when nothing was recorded. */
  bucket: number;
  /** When not allowed: milliseconds until enough of the window has expired to fit `cost`. */
  retryAfterMs: number;
}

/** Atomic check-and-add over sliding windows; implemented in memory and in Redis (Lua). */
export interface WindowStore {
  /**
   * Adds `cost` to `key` if `used + cost <= limit` (or unconditionally when `limit` is Infinity) and reports usage.
   * `mustFit: false` admits as long as the window is not already full (`used < limit`), for charges whose real size
   * is only known afterwards.
   */
  hit(key: string, spec: WindowSpec, limit: number, cost: number, nowMs: number, mustFit?: boolean): Promise<HitResult>;
  /** Adds `amount` (may be negative: a refund) to bucket `bucket` of `key`, or to the current bucket when -1. */
  add(key: string, spec: WindowSpec, amount: number, nowMs: number, bucket?: number): Promise<void>;
  /** Current usage of `key` inside the window. */
  usage(key: string, spec: WindowSpec, nowMs: number): Promise<number>;
}

export function sliceMs(spec: WindowSpec): number {
  return Math.max(1, Math.floor(spec.windowMs / spec.slices));
}

/** The bucket `nowMs` falls in. */
export function currentBucket(spec: WindowSpec, nowMs: number): number {
  return Math.floor(nowMs / sliceMs(spec));
}

/** The first bucket index still (partly) inside the window ending at `nowMs`. */
export function oldestLiveBucket(spec: WindowSpec, nowMs: number): number {
  // Bucket b spans [b·g, (b+1)·g); it overlaps the window (now − W, now] while (b+1)·g > now − W.
  return Math.floor((nowMs - spec.windowMs) / sliceMs(spec));
}

/** Same arithmetic as the Lua script: how long until the oldest buckets free `needed` units. */
export function retryAfter(
  buckets: Array<[number, number]>,
  spec: WindowSpec,
  nowMs: number,
  used: number,
  limit: number,
  cost: number,
): number {
  const g = sliceMs(spec);
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  let remaining = used;
  for (const [b, v] of sorted) {
    remaining -= v;
    // Bucket b leaves the window at (b + 1)·g + W.
    if (remaining + cost <= limit) return Math.max(1, (b + 1) * g + spec.windowMs - nowMs);
  }
  return spec.windowMs;
}

interface MemoryEntry {
  buckets: Map<number, number>;
}

/** Single-process window store: the embedded default and the fallback while Redis is unreachable. */
export class MemoryWindowStore implements WindowStore {
  private readonly entries = new Map<string, MemoryEntry>();
  private sweepAt = 0;

  async hit(
    key: string,
    spec: WindowSpec,
    limit: number,
    cost: number,
    nowMs: number,
    mustFit = true,
  ): Promise<HitResult> {
    return this.hitSync(key, spec, limit, cost, nowMs, mustFit);
  }

  hitSync(key: string, spec: WindowSpec, limit: number, cost: number, nowMs: number, mustFit = true): HitResult {
    this.maybeSweep(spec, nowMs);
    const entry = this.live(key, spec, nowMs);
    const used = sum(entry.buckets);
    const fits = mustFit ? used + cost <= limit : used < limit;
    if (!fits) {
      return {
        allowed: false,
        used,
        bucket: -1,
        retryAfterMs: retryAfter([...entry.buckets], spec, nowMs, used, limit, mustFit ? cost : 1),
      };
    }
    const bucket = currentBucket(spec, nowMs);
    entry.buckets.set(bucket, (entry.buckets.get(bucket) ?? 0) + cost);
    return { allowed: true, used: used + cost, bucket, retryAfterMs: 0 };
  }

  async add(key: string, spec: WindowSpec, amount: number, nowMs: number, bucket = -1): Promise<void> {
    this.maybeSweep(spec, nowMs);
    const entry = this.live(key, spec, nowMs);
    const b = bucket >= 0 ? bucket : currentBucket(spec, nowMs);
    if (b < oldestLiveBucket(spec, nowMs)) return; // already outside the window: nothing left to adjust
    entry.buckets.set(b, (entry.buckets.get(b) ?? 0) + amount);
  }

  async usage(key: string, spec: WindowSpec, nowMs: number): Promise<number> {
    return sum(this.live(key, spec, nowMs).buckets);
  }

  private live(key: string, spec: WindowSpec, nowMs: number): MemoryEntry {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { buckets: new Map() };
      this.entries.set(key, entry);
    }
    const oldest = oldestLiveBucket(spec, nowMs);
    for (const b of entry.buckets.keys()) if (b < oldest) entry.buckets.delete(b);
    return entry;
  }

  // Drop keys nobody touched for a while so many short-lived users do not leak memory.
  private maybeSweep(spec: WindowSpec, nowMs: number): void {
    if (nowMs < this.sweepAt) return;
    this.sweepAt = nowMs + Math.max(spec.windowMs, 10_000);
    const oldest = oldestLiveBucket(spec, nowMs);
    for (const [k, e] of this.entries) {
      let live = false;
      for (const b of e.buckets.keys()) if (b >= oldest) live = true;
      if (!live) this.entries.delete(k);
    }
  }
}

function sum(buckets: Map<number, number>): number {
  let s = 0;
  for (const v of buckets.values()) s += v;
  return s;
}
