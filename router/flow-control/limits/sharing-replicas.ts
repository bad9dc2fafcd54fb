// How many router replicas share one Redis: each replica stamps itself into a sorted set every second (Redis's own
// clock) and counts the stamps younger than a few seconds. While Redis is unreachable the last count stands; it is
// what each replica divides its limits by when it must enforce them alone.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";

// KEYS[1] zset member → last stamp (ms); ARGV: member, staleMs. Returns the live members after stamping.
const STAMP_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1])
`;

interface StampCommand {
  replicaStamp(key: string, member: string, staleMs: number): Promise<number>;
}

export class SharingReplicas {
  private live = 1;
  private timer?: NodeJS.Timeout;
  private readonly member = randomUUID();
  private readonly redis: Redis & StampCommand;

  constructor(
    redis: Redis,
    private readonly key: string,
    private readonly intervalMs = 1000,
    private readonly staleMs = 5000,
  ) {
    const r = redis as Redis & Partial<StampCommand>;
    if (!r.replicaStamp) redis.defineCommand("replicaStamp", { numberOfKeys: 1, lua: STAMP_SCRIPT });
    this.redis = redis as Redis & StampCommand;
  }

  /** Replicas seen sharing Redis at the last successful stamp (1 before the first). */
  get count(): number {
    return this.live;
  }

  /** Stamps now and then every interval. */
  start(): void {
    void this.stamp();
    this.timer ??= setInterval(() => void this.stamp(), this.intervalMs);
    this.timer.unref();
  }

  /** Stamps once; resolves with the count (unchanged when Redis does not answer). */
  async stamp(): Promise<number> {
    try {
      this.live = Math.max(1, Number(await this.redis.replicaStamp(this.key, this.member, this.staleMs)));
    } catch {
      // Unreachable: keep the last count; the backend already reports the outage.
    }
    return this.live;
  }

  /** Stops stamping and leaves the set, so the others stop counting this replica at once. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.redis.status === "ready") await this.redis.zrem(this.key, this.member).catch(() => 0);
  }
}
