// Sliding windows in Redis: one hash per limited key, one field per sub-bucket, checked and charged atomically by a
// Lua script so every router replica sees the same count. Time comes from the Redis server (TIME), not from each
// replica, so replicas with skewed clocks still agree on which buckets are live.
import type { Redis } from "ioredis";
import { sliceMs, type HitResult, type WindowSpec, type WindowStore } from "./window-store.js";

// KEYS[1] hash; ARGV: windowMs, sliceMs, limit (-1 = none), cost, mustFit (1/0).
// Returns {allowed, used, bucket, retryAfterMs}.
const HIT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local W = tonumber(ARGV[1]); local g = tonumber(ARGV[2]); local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[4]); local mustFit = ARGV[5] == '1'
local oldest = math.floor((now - W) / g)
local vals = redis.call('HGETALL', KEYS[1])
local used = 0
local live = {}
for i = 1, #vals, 2 do
  local b = tonumber(vals[i]); local v = tonumber(vals[i + 1])
  if b < oldest then redis.call('HDEL', KEYS[1], vals[i]) else used = used + v; live[#live + 1] = {b, v} end
end
local fits
if limit < 0 then fits = true elseif mustFit then fits = (used + cost <= limit) else fits = (used < limit) end
if not fits then
  table.sort(live, function(a, b) return a[1] < b[1] end)
  local need = 1
  if mustFit then need = cost end
  local remaining = used
  local retry = W
  for _, e in ipairs(live) do
    remaining = remaining - e[2]
    if remaining + need <= limit then retry = (e[1] + 1) * g + W - now; break end
  end
  if retry < 1 then retry = 1 end
  return {0, used, -1, retry}
end
local bucket = math.floor(now / g)
redis.call('HINCRBY', KEYS[1], bucket, cost)
redis.call('PEXPIRE', KEYS[1], W + g)
return {1, used + cost, bucket, 0}
`;

// KEYS[1] hash; ARGV: windowMs, sliceMs, amount, bucket (-1 = current).
const ADD_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local W = tonumber(ARGV[1]); local g = tonumber(ARGV[2]); local amount = tonumber(ARGV[3]); local b = tonumber(ARGV[4])
if b < 0 then b = math.floor(now / g) end
if b < math.floor((now - W) / g) then return 0 end
redis.call('HINCRBY', KEYS[1], b, amount)
redis.call('PEXPIRE', KEYS[1], W + g)
return 1
`;

const USAGE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local oldest = math.floor((now - tonumber(ARGV[1])) / tonumber(ARGV[2]))
local vals = redis.call('HGETALL', KEYS[1])
local used = 0
for i = 1, #vals, 2 do if tonumber(vals[i]) >= oldest then used = used + tonumber(vals[i + 1]) end end
return used
`;

interface WindowCommands {
  rlHit(key: string, w: number, g: number, limit: number, cost: number, mustFit: number): Promise<number[]>;
  rlAdd(key: string, w: number, g: number, amount: number, bucket: number): Promise<number>;
  rlUsage(key: string, w: number, g: number): Promise<number>;
}

export function defineWindowCommands(redis: Redis): Redis & WindowCommands {
  const r = redis as Redis & Partial<WindowCommands>;
  if (!r.rlHit) {
    redis.defineCommand("rlHit", { numberOfKeys: 1, lua: HIT_SCRIPT });
    redis.defineCommand("rlAdd", { numberOfKeys: 1, lua: ADD_SCRIPT });
    redis.defineCommand("rlUsage", { numberOfKeys: 1, lua: USAGE_SCRIPT });
  }
  return redis as Redis & WindowCommands;
}

export class RedisWindowStore implements WindowStore {
  private readonly redis: Redis & WindowCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    this.redis = defineWindowCommands(redis);
  }

  async hit(key: string, spec: WindowSpec, limit: number, cost: number, _nowMs: number, mustFit = true) {
    const lim = Number.isFinite(limit) ? limit : -1;
    const [allowed, used, bucket, retry] = await this.redis.rlHit(
      this.prefix + key,
      spec.windowMs,
      sliceMs(spec),
      lim,
      Math.round(cost),
      mustFit ? 1 : 0,
    );
    const result: HitResult = {
      allowed: allowed === 1,
      used: Number(used),
      bucket: Number(bucket),
      retryAfterMs: Number(retry),
    };
    return result;
  }

  async add(key: string, spec: WindowSpec, amount: number, _nowMs: number, bucket = -1): Promise<void> {
    if (amount === 0) return;
    await this.redis.rlAdd(this.prefix + key, spec.windowMs, sliceMs(spec), Math.round(amount), bucket);
  }

  async usage(key: string, spec: WindowSpec): Promise<number> {
    return Number(await this.redis.rlUsage(this.prefix + key, spec.windowMs, sliceMs(spec)));
  }
}
