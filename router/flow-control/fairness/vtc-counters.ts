// Virtual token counters (VTC): per model, per user, the weighted service a user has received. Kept locally for the
// hot path; with Redis, every replica pushes its deltas and pulls the merged view on a short interval, so a user's
// service on one replica counts on all of them (eventually consistent within one sync interval).
import type { Redis } from "ioredis";

export interface VtcCounters {
  get(model: string, user: string): number;
  add(model: string, user: string, amount: number): void;
  /** Counter lifting: set the user's counter to max(own, floor). */
  lift(model: string, user: string, floor: number): void;
  close(): Promise<void>;
}

export class MemoryVtcCounters implements VtcCounters {
  protected readonly counters = new Map<string, Map<string, number>>();

  get(model: string, user: string): number {
    return this.counters.get(model)?.get(user) ?? 0;
  }

  add(model: string, user: string, amount: number): void {
    const m = this.model(model);
    m.set(user, (m.get(user) ?? 0) + amount);
  }

  lift(model: string, user: string, floor: number): void {
    const m = this.model(model);
    if ((m.get(user) ?? 0) < floor) m.set(user, floor);
  }

  async close(): Promise<void> {}

  protected model(model: string): Map<string, number> {
    let m = this.counters.get(model);
    if (!m) {
      m = new Map();
      this.counters.set(model, m);
    }
    return m;
  }
}

// KEYS[1] hash; ARGV pairs user, floor: HSET user floor when the stored value is lower.
const LIFT_SCRIPT = `
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if cur < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
`;

interface LiftCommand {
  vtcLift(key: string, ...args: Array<string | number>): Promise<number>;
}

export class RedisVtcCounters extends MemoryVtcCounters {
  private readonly redis: Redis & LiftCommand;
  private pendingAdds = new Map<string, Map<string, number>>();
  private pendingLifts = new Map<string, Map<string, number>>();
  private readonly timer: NodeJS.Timeout;
  private syncing = false;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    syncMs = 50,
    private readonly isUp: () => boolean = () => true,
  ) {
    super();
    const r = redis as Redis & Partial<LiftCommand>;
    if (!r.vtcLift) redis.defineCommand("vtcLift", { numberOfKeys: 1, lua: LIFT_SCRIPT });
    this.redis = redis as Redis & LiftCommand;
    this.timer = setInterval(() => void this.sync(), syncMs);
    this.timer.unref();
  }

  override add(model: string, user: string, amount: number): void {
    super.add(model, user, amount);
    bump(this.pendingAdds, model, user, amount, (a, b) => a + b);
  }

  override lift(model: string, user: string, floor: number): void {
    super.lift(model, user, floor);
    bump(this.pendingLifts, model, user, floor, Math.max);
  }

  /** Push local deltas, then adopt the merged counters (Redis holds the sum over all replicas). */
  async sync(): Promise<void> {
    if (this.syncing || !this.isUp()) return;
    this.syncing = true;
    const adds = this.pendingAdds;
    const lifts = this.pendingLifts;
    this.pendingAdds = new Map();
    this.pendingLifts = new Map();
    try {
      for (const [model, users] of lifts) {
        const args: Array<string | number> = [];
        for (const [u, v] of users) args.push(u, v);
        await this.redis.vtcLift(this.prefix + model, ...args);
      }
      const pipe = this.redis.pipeline();
      for (const [model, users] of adds) for (const [u, v] of users) pipe.hincrbyfloat(this.prefix + model, u, v);
      const models = [...this.counters.keys()];
      for (const model of models) pipe.hgetall(this.prefix + model);
      const results = (await pipe.exec()) ?? [];
      const tail = results.slice(results.length - models.length);
      models.forEach((model, i) => {
        const [err, value] = tail[i] ?? [null, null];
        if (err || !value || typeof value !== "object") return;
        const merged = this.model(model);
        for (const [u, v] of Object.entries(value as Record<string, string>)) {
          // Local charges made since the push are not in Redis yet; keep them on top.
          const pending = this.pendingAdds.get(model)?.get(u) ?? 0;
          merged.set(u, Number(v) + pending);
        }
      });
    } catch {
      // Redis went away mid-sync: keep the deltas for the next round so no service is forgotten.
      for (const [model, users] of adds)
        for (const [u, v] of users) bump(this.pendingAdds, model, u, v, (a, b) => a + b);
      for (const [model, users] of lifts) for (const [u, v] of users) bump(this.pendingLifts, model, u, v, Math.max);
    } finally {
      this.syncing = false;
    }
  }

  override async close(): Promise<void> {
    clearInterval(this.timer);
    await this.sync();
  }
}

function bump(
  map: Map<string, Map<string, number>>,
  model: string,
  user: string,
  v: number,
  combine: (a: number, b: number) => number,
): void {
  let m = map.get(model);
  if (!m) {
    m = new Map();
    map.set(model, m);
  }
  const cur = m.get(user);
  m.set(user, cur === undefined ? v : combine(cur, v));
}
