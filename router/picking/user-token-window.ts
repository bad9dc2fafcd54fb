// Per-user token counts over a sliding window (vtc-basic): time is cut into slices, a user's count is the sum of the
// live slices. Reads stay synchronous for the picking hot path. With Redis, each replica pushes its own charges into
// one Redis hash per slice and pulls the merged slices back on a short interval, so a user's tokens routed by one
// replica count on all of them (eventually consistent within one sync interval).
import { Redis } from "ioredis";
import { FAIL_FAST_REDIS } from "../redis-options.js";

/** Adds `tokens` to `user`'s count in `slice` of a slice → user → tokens map. */
function addTokens(slices: Map<number, Map<string, number>>, slice: number, user: string, tokens: number): void {
  let users = slices.get(slice);
  if (!users) slices.set(slice, (users = new Map()));
  users.set(user, (users.get(user) ?? 0) + tokens);
}

export interface TokenWindowOptions {
  /** Window length (ms); default 5 minutes. */
  windowMs?: number;
  /** Slice length (ms); default 10 s. The window slides one slice at a time. */
  sliceMs?: number;
}

export interface TokenRange {
  /** Smallest positive user count in the window; undefined when no user has any. */
  min?: number;
  max?: number;
}

export class TokenWindowError extends Error {}

/** The in-memory window (one router replica). */
export class UserTokenWindow {
  readonly windowMs: number;
  readonly sliceMs: number;
  /** slice number → user → tokens. */
  protected readonly slices = new Map<number, Map<string, number>>();
  private range: TokenRange = {};
  private rangeAt = -Infinity;

  constructor(o: TokenWindowOptions = {}) {
    this.windowMs = o.windowMs ?? 300_000;
    this.sliceMs = o.sliceMs ?? 10_000;
    if (!(Number.isFinite(this.windowMs) && this.windowMs > 0)) {
      throw new TokenWindowError(`windowMs: ${this.windowMs} must be a positive number of milliseconds`);
    }
    if (!(Number.isFinite(this.sliceMs) && this.sliceMs > 0 && this.sliceMs <= this.windowMs)) {
      throw new TokenWindowError(`sliceMs: ${this.sliceMs} must be positive and at most windowMs (${this.windowMs})`);
    }
  }

  sliceOf(now: number): number {
    return Math.floor(now / this.sliceMs);
  }

  /** Oldest slice still inside the window at `now`. */
  protected oldestLive(now: number): number {
    return this.sliceOf(now) - Math.ceil(this.windowMs / this.sliceMs) + 1;
  }

  /** Tokens charged to `user` inside the window. */
  get(user: string, now: number): number {
    const oldest = this.oldestLive(now);
    let sum = 0;
    for (const [slice, users] of this.slices) {
      if (slice < oldest) continue;
      sum += users.get(user) ?? 0;
    }
    return sum;
  }

  /**
   * Min and max user totals in the window. A full pass over the window costs O(users × slices), so it runs at most
   * once per slice/10; in between, charges only widen the range (a user who was the minimum and grew leaves the
   * minimum a little low until the next pass).
   */
  minMax(now: number): TokenRange {
    if (now - this.rangeAt < this.sliceMs / 10) return this.range;
    this.prune(now);
    const totals = new Map<string, number>();
    for (const users of this.slices.values()) {
      for (const [u, v] of users) totals.set(u, (totals.get(u) ?? 0) + v);
    }
    let min: number | undefined;
    let max: number | undefined;
    for (const v of totals.values()) {
      if (v <= 0) continue;
      if (min === undefined || v < min) min = v;
      if (max === undefined || v > max) max = v;
    }
    this.range = { min, max };
    this.rangeAt = now;
    return this.range;
  }

  add(user: string, tokens: number, now: number): void {
    if (!(tokens > 0)) return;
    addTokens(this.slices, this.sliceOf(now), user, tokens);
    const total = this.get(user, now);
    const { min, max } = this.range;
    this.range = {
      min: min === undefined || total < min ? total : min,
      max: max === undefined || total > max ? total : max,
    };
  }

  /** Replace one slice (the merged view from other replicas). */
  protected replaceSlice(slice: number, users: Map<string, number>): void {
    if (users.size === 0) this.slices.delete(slice);
    else this.slices.set(slice, users);
  }

  protected prune(now: number): void {
    const oldest = this.oldestLive(now);
    for (const slice of this.slices.keys()) if (slice < oldest) this.slices.delete(slice);
  }

  async close(): Promise<void> {}
}

export interface RedisTokenWindowOptions extends TokenWindowOptions {
  redisUrl: string;
  /** Key prefix; one hash per slice: `<prefix><slice>` → {user: tokens}. */
  prefix?: string;
  /** Push/pull interval (ms). */
  syncMs?: number;
  /** Told when Redis becomes unreachable (once per outage). */
  onError?: (err: Error) => void;
}

/** The window shared by every router replica through Redis. */
export class RedisUserTokenWindow extends UserTokenWindow {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly timer: NodeJS.Timeout;
  /** Charges made here since the last successful push: slice → user → tokens. */
  private pending = new Map<number, Map<string, number>>();
  private syncing = false;
  private needFull = true;
  private down = false;
  private closed = false;

  constructor(private readonly o: RedisTokenWindowOptions) {
    super(o);
    this.prefix = o.prefix ?? "aibrix:vtc-window:";
    this.redis = new Redis(o.redisUrl, FAIL_FAST_REDIS);
    this.redis.on("error", (err: Error) => this.reportDown(err));
    this.redis.on("ready", () => {
      this.down = false;
      // After an outage, every slice may have moved on without us.
      this.needFull = true;
    });
    this.timer = setInterval(() => void this.sync(), o.syncMs ?? 100);
    this.timer.unref();
  }

  override add(user: string, tokens: number, now: number): void {
    if (!(tokens > 0)) return;
    super.add(user, tokens, now);
    addTokens(this.pending, this.sliceOf(now), user, tokens);
  }

  private reportDown(err: Error): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.o.onError?.(err);
  }

  /** Push local charges, then pull the current slice (every live slice after a start or an outage). */
  async sync(now = Date.now()): Promise<void> {
    if (this.syncing || this.redis.status !== "ready") return;
    this.syncing = true;
    const pushed = this.pending;
    this.pending = new Map();
    const ttlMs = this.windowMs + 2 * this.sliceMs;
    try {
      const pipe = this.redis.pipeline();
      for (const [slice, users] of pushed) {
        for (const [u, v] of users) pipe.hincrbyfloat(this.prefix + slice, u, v);
        pipe.pexpire(this.prefix + slice, ttlMs);
      }
      const current = this.sliceOf(now);
      // The previous slice too: other replicas' last charges to it may have landed after our last pull.
      const first = this.needFull ? this.oldestLive(now) : current - 1;
      const pulled: number[] = [];
      for (let s = first; s <= current; s++) {
        pipe.hgetall(this.prefix + s);
        pulled.push(s);
      }
      const results = (await pipe.exec()) ?? [];
      const tail = results.slice(results.length - pulled.length);
      pulled.forEach((slice, i) => {
        const [err, value] = tail[i] ?? [null, null];
        if (err || !value || typeof value !== "object") return;
        const merged = new Map<string, number>();
        for (const [u, v] of Object.entries(value as Record<string, string>)) merged.set(u, Number(v));
        // Charges made here during the round trip are not in Redis yet; keep them on top.
        for (const [u, v] of this.pending.get(slice) ?? []) merged.set(u, (merged.get(u) ?? 0) + v);
        this.replaceSlice(slice, merged);
      });
      this.needFull = false;
      this.prune(now);
    } catch (err) {
      // Keep the charges for the next round so no tokens are forgotten.
      for (const [slice, users] of pushed) {
        for (const [u, v] of users) {
          let p = this.pending.get(slice);
          if (!p) {
            p = new Map();
            this.pending.set(slice, p);
          }
          p.set(u, (p.get(u) ?? 0) + v);
        }
      }
      this.reportDown(err as Error);
    } finally {
      this.syncing = false;
    }
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    await this.sync();
    this.closed = true;
    this.redis.disconnect();
  }
}
