// Where limit state lives: Redis when configured and reachable (shared by every replica), else this process's memory.
//
// Redis unreachable → fail-open (default): keep serving with local limits, each replica enforcing its share of every
// limit (the limit ÷ the replicas last seen sharing Redis) on the windows it mirrored while Redis answered, and
// replaying what it admitted once Redis is back (fallback.ts). Fail-closed: refuse (503) instead. Either way the
// change is logged once per transition and visible in the `aibrix_router_redis_up` gauge.
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import {
  MirroredLeaseStore,
  MirroredWindowStore,
  PendingCharges,
  ReplicaShareLeaseStore,
  ReplicaShareWindowStore,
} from "./fallback.js";
import { MemoryLeaseStore, RedisLeaseStore, type LeaseStore } from "./leases.js";
import { RedisWindowStore } from "./redis-window-store.js";
import { SharingReplicas } from "./sharing-replicas.js";
import { MemoryWindowStore, type WindowStore } from "./window-store.js";
import { FAIL_FAST_REDIS } from "../../redis-options.js";

export type RedisFailureMode = "open" | "closed";

export interface BackendOptions {
  redisUrl?: string;
  /** `open`: serve with local limits while Redis is down (default); `closed`: refuse with 503. */
  onRedisFailure: RedisFailureMode;
  /** Prefix of every Redis key this process writes. */
  keyPrefix: string;
  /** Per-command timeout: a slow Redis counts as a down Redis. */
  commandTimeoutMs: number;
  logger: Logger;
  registry: Registry;
}

export interface Stores {
  windows: WindowStore;
  leases: LeaseStore;
  /** True when these stores are the shared (Redis) ones. */
  shared: boolean;
}

/** Thrown in fail-closed mode while Redis is unreachable. */
export class SharedStateUnavailable extends Error {
  constructor() {
    super("shared limit state (Redis) is unreachable and the router is configured to fail closed");
  }
}

export class LimitBackend {
  readonly redis?: Redis;
  private readonly memoryWindows = new MemoryWindowStore();
  private readonly memoryLeases = new MemoryLeaseStore();
  private readonly memory: Stores = { windows: this.memoryWindows, leases: this.memoryLeases, shared: false };
  private readonly remote?: Stores;
  /** What requests are checked against while Redis is configured but unreachable. */
  private readonly fallback?: Stores;
  private readonly pending = new PendingCharges();
  private replaying?: Promise<void>;
  private readonly replicas?: SharingReplicas;
  private readonly redisWindows?: RedisWindowStore;
  private up = false;
  private consecutiveFailures = 0;
  private probe?: NodeJS.Timeout;
  private readonly upGauge: Gauge;
  private readonly fallbacks: Counter;
  private readonly firstReady: Promise<void>;

  constructor(private readonly opts: BackendOptions) {
    this.upGauge = new Gauge({
      name: "aibrix_router_redis_up",
      help: "1 when the shared limit state (Redis) is reachable, 0 when serving with local limits or none configured",
      registers: [opts.registry],
    });
    this.fallbacks = new Counter({
      name: "aibrix_router_redis_fallbacks_total",
      help: "Limit operations answered locally (fail-open) or refused (fail-closed) because Redis was unreachable",
      labelNames: ["mode"],
      registers: [opts.registry],
    });
    if (!opts.redisUrl) {
      this.firstReady = Promise.resolve();
      return;
    }
    const redis = new Redis(opts.redisUrl, {
      // A request must not wait for Redis to come back.
      ...FAIL_FAST_REDIS,
      commandTimeout: opts.commandTimeoutMs,
      reconnectOnError: () => true,
      lazyConnect: false,
    });
    this.redis = redis;
    this.redisWindows = new RedisWindowStore(redis, opts.keyPrefix + "rl:");
    this.remote = {
      windows: new MirroredWindowStore(this.redisWindows, this.memoryWindows),
      leases: new MirroredLeaseStore(new RedisLeaseStore(redis, opts.keyPrefix + "cc:"), this.memoryLeases),
      shared: true,
    };
    const replicas = new SharingReplicas(redis, opts.keyPrefix + "replicas");
    this.replicas = replicas;
    const share = () => 1 / replicas.count;
    this.fallback = {
      windows: new ReplicaShareWindowStore(this.memoryWindows, share, this.pending),
      leases: new ReplicaShareLeaseStore(this.memoryLeases, share),
      shared: false,
    };
    this.firstReady = new Promise((resolve) => {
      redis.once("ready", () => resolve());
      setTimeout(() => {
        if (!this.up) {
          const mode =
            opts.onRedisFailure === "open" ? "serving with local limits (fail-open)" : "refusing (fail-closed)";
          opts.logger.warn({ redis: redactUrl(opts.redisUrl) }, `redis not reachable at start: ${mode}`);
        }
        resolve();
      }, 2000).unref();
    });
    redis.on("ready", () => this.markUp());
    redis.on("error", (err: Error) => this.markDown(err));
    redis.on("close", () => this.markDown(new Error("connection closed")));
    redis.on("end", () => this.markDown(new Error("connection ended")));
  }

  /** Waits (bounded) for the first Redis connection so the first requests are counted in shared state. */
  ready(): Promise<void> {
    return this.firstReady;
  }

  get redisUp(): boolean {
    return this.up;
  }

  get redisConfigured(): boolean {
    return this.redis !== undefined;
  }

  /** Replicas last seen sharing Redis (1 without Redis): each enforces 1/count of every limit while Redis is away. */
  get sharingReplicas(): number {
    return this.replicas?.count ?? 1;
  }

  /** Local charges from an outage not yet replayed into Redis. */
  get pendingReplay(): number {
    return this.pending.size;
  }

  /**
   * Runs `op` against the shared stores, or the local ones when Redis is not configured / unreachable (fail-open).
   * A Redis error mid-operation marks Redis down and re-runs `op` locally, so no request is lost to an outage.
   */
  async run<T>(op: (s: Stores) => Promise<T>): Promise<T> {
    if (!this.remote || !this.fallback) return op(this.memory);
    if (this.up) {
      try {
        // Charges taken locally must reach Redis before it decides again, or it could admit past a limit they used.
        if (this.pending.size > 0) await this.replayPending();
        const result = await op(this.remote);
        this.consecutiveFailures = 0;
        return result;
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        // One slow answer on a busy machine is not an outage: this request goes local, Redis stays in use until
        // failures repeat (or the connection drops, which marks it down at once).
        if (++this.consecutiveFailures >= 3) this.markDown(err as Error);
      }
    }
    this.fallbacks.inc({ mode: this.opts.onRedisFailure });
    if (this.opts.onRedisFailure === "closed") throw new SharedStateUnavailable();
    return op(this.fallback);
  }

  /** Replays local charges into Redis, one replay at a time; what fails stays for the next (never throws). */
  private replayPending(): Promise<void> {
    if (this.pending.size === 0 || !this.redisWindows) return Promise.resolve();
    this.replaying ??= this.pending
      .replay(this.redisWindows, Date.now)
      .catch(() => {})
      .finally(() => {
        this.replaying = undefined;
      });
    return this.replaying;
  }

  /** Best-effort write (post-request accounting): dropped quietly when Redis is away. */
  async runQuietly(op: (s: Stores) => Promise<void>): Promise<void> {
    try {
      await this.run(op);
    } catch {
      // Accounting after the fact must never fail a request that was already served.
    }
  }

  async close(): Promise<void> {
    if (this.probe) clearInterval(this.probe);
    await this.replicas?.close();
    if (this.redis) {
      this.redis.removeAllListeners("close");
      this.redis.removeAllListeners("error");
      this.redis.on("error", () => {});
      this.redis.disconnect();
    }
  }

  private markUp(): void {
    this.consecutiveFailures = 0;
    if (this.probe) clearInterval(this.probe);
    this.probe = undefined;
    this.replicas?.start();
    void this.replayPending();
    if (this.up) return;
    this.up = true;
    this.upGauge.set(1);
    this.opts.logger.info({ redis: redactUrl(this.opts.redisUrl) }, "redis reachable: limits are shared again");
  }

  private markDown(err: Error): void {
    if (!this.up) return;
    this.up = false;
    this.upGauge.set(0);
    const mode =
      this.opts.onRedisFailure === "open" ? "serving with local limits (fail-open)" : "refusing (fail-closed)";
    this.opts.logger.warn({ redis: redactUrl(this.opts.redisUrl), err: err.message }, `redis unreachable: ${mode}`);
    // A connection that stays open but stopped answering gets no new "ready" event: probe it.
    const redis = this.redis;
    if (redis && !this.probe) {
      this.probe = setInterval(() => {
        if (redis.status !== "ready") return; // reconnecting: "ready" will mark it up
        redis.ping().then(
          () => this.markUp(),
          () => {},
        );
      }, 250);
      this.probe.unref();
    }
  }
}

/** Script errors (bugs) must surface; anything about the connection is an outage. */
function isConnectionError(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return !/ERR Error running script|ERR user_script|WRONGTYPE/.test(msg);
}

function redactUrl(url?: string): string | undefined {
  return url?.replace(/\/\/[^@/]*@/, "//***@");
}
