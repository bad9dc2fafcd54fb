// In-flight requests per endpoint summed over every router replica, for power-of-two. Each replica writes its own
// counts (one field per replica, stamped with its clock) into a Redis hash that rotates every hour and expires 5
// minutes after its last write, and reads the others' back on a short interval. Picking reads the last merged view
// synchronously; a replica that stops writing drops out of the sum after `staleMs`.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { powerOfTwoBy } from "./scorers/power-of-two.js";
import type { Scorer } from "./types.js";
import { FAIL_FAST_REDIS } from "../redis-options.js";

export interface SharedInFlightOptions {
  redisUrl: string;
  /** This replica's counts: endpoint id → requests in flight here. */
  local: () => Iterable<readonly [string, number]>;
  /** Key prefix; the hour number is appended. */
  prefix?: string;
  syncMs?: number;
  /** Another replica's counts older than this are ignored (it stopped or lost Redis). */
  staleMs?: number;
  /** Key lifetime after the last write (ms). */
  ttlMs?: number;
  onError?: (err: Error) => void;
}

interface ReplicaCounts {
  /** Writer's wall clock (ms). */
  at: number;
  /** endpoint id → in flight. */
  c: Record<string, number>;
}

const HOUR_MS = 3_600_000;

export class SharedInFlight {
  readonly replica = randomBytes(6).toString("hex");
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly staleMs: number;
  private readonly ttlMs: number;
  private readonly timer: NodeJS.Timeout;
  private remote = new Map<string, number>();
  private syncing = false;
  private down = false;
  private closed = false;

  constructor(private readonly o: SharedInFlightOptions) {
    this.prefix = o.prefix ?? "aibrix:p2c-inflight:";
    const syncMs = o.syncMs ?? 100;
    this.staleMs = o.staleMs ?? Math.max(2000, 10 * syncMs);
    this.ttlMs = o.ttlMs ?? 300_000;
    this.redis = new Redis(o.redisUrl, FAIL_FAST_REDIS);
    this.redis.on("error", (err: Error) => this.reportDown(err));
    this.redis.on("ready", () => (this.down = false));
    this.timer = setInterval(() => void this.sync(), syncMs);
    this.timer.unref();
  }

  /** Requests other replicas have in flight at `id` (as of the last sync). */
  remoteInFlight(id: string): number {
    return this.remote.get(id) ?? 0;
  }

  keyFor(now: number): string {
    return this.prefix + Math.floor(now / HOUR_MS);
  }

  private reportDown(err: Error): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.o.onError?.(err);
  }

  /** Write own counts, read everyone's. While Redis is away the last view ages out and local counts decide. */
  async sync(now = Date.now()): Promise<void> {
    if (this.syncing) return;
    if (this.redis.status !== "ready") {
      if (this.remote.size > 0) this.remote = new Map();
      return;
    }
    this.syncing = true;
    try {
      const c: Record<string, number> = {};
      for (const [id, n] of this.o.local()) if (n > 0) c[id] = n;
      const mine: ReplicaCounts = { at: now, c };
      const key = this.keyFor(now);
      // Around the turn of the hour some replicas still write last hour's key: read both.
      const previous = this.keyFor(now - HOUR_MS);
      const results =
        (await this.redis
          .pipeline()
          .hset(key, this.replica, JSON.stringify(mine))
          .pexpire(key, this.ttlMs)
          .hgetall(key)
          .hgetall(previous)
          .exec()) ?? [];
      const latest = new Map<string, ReplicaCounts>();
      for (const [err, value] of results.slice(2)) {
        if (err || !value || typeof value !== "object") continue;
        for (const [replica, text] of Object.entries(value as Record<string, string>)) {
          if (replica === this.replica) continue;
          const parsed = parseCounts(text);
          if (!parsed || now - parsed.at > this.staleMs) continue;
          const seen = latest.get(replica);
          if (!seen || parsed.at > seen.at) latest.set(replica, parsed);
        }
      }
      const remote = new Map<string, number>();
      for (const { c: counts } of latest.values()) {
        for (const [id, n] of Object.entries(counts)) remote.set(id, (remote.get(id) ?? 0) + n);
      }
      this.remote = remote;
    } catch (err) {
      this.remote = new Map();
      this.reportDown(err as Error);
    } finally {
      this.syncing = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    // Leave no counts behind for the others to add for `staleMs`.
    if (this.redis.status === "ready") {
      await this.redis.hdel(this.keyFor(Date.now()), this.replica).catch(() => undefined);
    }
    this.redis.disconnect();
  }
}

function parseCounts(text: string): ReplicaCounts | undefined {
  try {
    const v = JSON.parse(text) as Partial<ReplicaCounts>;
    if (typeof v.at !== "number" || typeof v.c !== "object" || v.c === null) return undefined;
    return v as ReplicaCounts;
  } catch {
    return undefined;
  }
}

/** power-of-two over the in-flight requests of every replica: own (live) + others' (last sync). */
export function sharedPowerOfTwo(shared: SharedInFlight): Scorer {
  return powerOfTwoBy("power-of-two", (ep) => ep.inFlight + shared.remoteInFlight(ep.id));
}
