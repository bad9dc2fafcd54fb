// Concurrency limits as expiring leases: a request holds a lease while it runs. Leases expire on their own, so a
// replica that dies mid-request cannot leak capacity forever (it comes back after `leaseMs`).
import type { Redis } from "ioredis";

export interface LeaseStore {
  /** Takes a lease named `member` on `key` if fewer than `limit` live leases exist. */
  acquire(key: string, limit: number, leaseMs: number, member: string): Promise<boolean>;
  release(key: string, member: string): Promise<void>;
  count(key: string): Promise<number>;
}

export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {}

  async acquire(key: string, limit: number, leaseMs: number, member: string): Promise<boolean> {
    const set = this.live(key);
    if (set.size >= limit) return false;
    set.set(member, this.now() + leaseMs);
    return true;
  }

  async release(key: string, member: string): Promise<void> {
    this.leases.get(key)?.delete(member);
  }

  async count(key: string): Promise<number> {
    return this.live(key).size;
  }

  private live(key: string): Map<string, number> {
    let set = this.leases.get(key);
    if (!set) {
      set = new Map();
      this.leases.set(key, set);
    }
    const now = this.now();
    for (const [m, exp] of set) if (exp <= now) set.delete(m);
    return set;
  }
}

// KEYS[1] zset of member → expiry (ms); ARGV: limit, leaseMs, member.
const ACQUIRE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`;

const COUNT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`;

interface LeaseCommands {
  leaseAcquire(key: string, limit: number, leaseMs: number, member: string): Promise<number>;
  leaseCount(key: string): Promise<number>;
}

export class RedisLeaseStore implements LeaseStore {
  private readonly redis: Redis & LeaseCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    const r = redis as Redis & Partial<LeaseCommands>;
    if (!r.leaseAcquire) {
      redis.defineCommand("leaseAcquire", { numberOfKeys: 1, lua: ACQUIRE_SCRIPT });
      redis.defineCommand("leaseCount", { numberOfKeys: 1, lua: COUNT_SCRIPT });
    }
    this.redis = redis as Redis & LeaseCommands;
  }

  async acquire(key: string, limit: number, leaseMs: number, member: string): Promise<boolean> {
    return (await this.redis.leaseAcquire(this.prefix + key, limit, leaseMs, member)) === 1;
  }

  async release(key: string, member: string): Promise<void> {
    await this.redis.zrem(this.prefix + key, member);
  }

  async count(key: string): Promise<number> {
    return Number(await this.redis.leaseCount(this.prefix + key));
  }
}
