// Where users live: Redis (shared by every replica; records at `aibrix-users/<name>` as AIBrix keeps them, with our
// extra fields alongside) or memory. Reads on the request path go through a short-lived local cache, and the last
// copy seen is kept so a Redis outage does not turn known users into unknown ones.
import type { Redis } from "ioredis";
import type { User } from "./user.js";

export interface UserStore {
  get(name: string): Promise<User | undefined>;
  put(user: User): Promise<void>;
  delete(name: string): Promise<boolean>;
  list(): Promise<User[]>;
  /** Name of the user owning key `id`. */
  userForKey(id: string): Promise<string | undefined>;
  linkKey(id: string, user: string): Promise<void>;
  unlinkKey(id: string): Promise<void>;
}

export class MemoryUserStore implements UserStore {
  private readonly users = new Map<string, User>();
  private readonly keys = new Map<string, string>();

  async get(name: string) {
    return clone(this.users.get(name));
  }
  async put(user: User) {
    this.users.set(user.name, clone(user)!);
  }
  async delete(name: string) {
    return this.users.delete(name);
  }
  async list() {
    return [...this.users.values()].map((u) => clone(u)!);
  }
  async userForKey(id: string) {
    return this.keys.get(id);
  }
  async linkKey(id: string, user: string) {
    this.keys.set(id, user);
  }
  async unlinkKey(id: string) {
    this.keys.delete(id);
  }
}

export const USER_KEY_PREFIX = "aibrix-users/";

export class RedisUserStore implements UserStore {
  constructor(
    private readonly redis: Redis,
    private readonly keyIndexPrefix: string,
  ) {}

  async get(name: string) {
    const raw = await this.redis.get(USER_KEY_PREFIX + name);
    return raw ? normalise(JSON.parse(raw) as Partial<User>) : undefined;
  }
  async put(user: User) {
    await this.redis.set(USER_KEY_PREFIX + user.name, JSON.stringify(user));
  }
  async delete(name: string) {
    return (await this.redis.del(USER_KEY_PREFIX + name)) > 0;
  }
  async list() {
    const users: User[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", USER_KEY_PREFIX + "*", "COUNT", 200);
      cursor = next;
      if (keys.length) {
        for (const raw of await this.redis.mget(...keys))
          if (raw) users.push(normalise(JSON.parse(raw) as Partial<User>));
      }
    } while (cursor !== "0");
    return users.sort((a, b) => a.name.localeCompare(b.name));
  }
  async userForKey(id: string) {
    return (await this.redis.get(this.keyIndexPrefix + id)) ?? undefined;
  }
  async linkKey(id: string, user: string) {
    await this.redis.set(this.keyIndexPrefix + id, user);
  }
  async unlinkKey(id: string) {
    await this.redis.del(this.keyIndexPrefix + id);
  }
}

/** Read-through cache for the request path; falls back to the last copy seen when the store is unreachable. */
export class CachedUserStore {
  private readonly cache = new Map<string, { user: User | undefined; at: number }>();
  private readonly keyCache = new Map<string, { user: string | undefined; at: number }>();

  /**
   * `available` is the breaker: while it says the store is down, lookups answer from the cache however old, or
   * fail at once, instead of each waiting out a command timeout against a store that hangs.
   */
  constructor(
    private readonly store: UserStore,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly available: () => boolean = () => true,
  ) {}

  private unavailable(): Error {
    return new Error("user store unreachable");
  }

  async get(name: string): Promise<User | undefined> {
    const hit = this.cache.get(name);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.user;
    if (!this.available()) {
      if (hit) return hit.user;
      throw this.unavailable();
    }
    try {
      const user = await this.store.get(name);
      this.cache.set(name, { user, at: this.now() });
      return user;
    } catch (err) {
      if (hit) return hit.user;
      throw err;
    }
  }

  async userForKey(id: string): Promise<string | undefined> {
    const hit = this.keyCache.get(id);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.user;
    if (!this.available()) {
      if (hit) return hit.user;
      throw this.unavailable();
    }
    try {
      const user = await this.store.userForKey(id);
      this.keyCache.set(id, { user, at: this.now() });
      return user;
    } catch (err) {
      if (hit) return hit.user;
      throw err;
    }
  }

  /** Changes made through this replica's API are visible here at once. */
  invalidate(name: string, keyIds: string[] = []): void {
    this.cache.delete(name);
    for (const id of keyIds) this.keyCache.delete(id);
  }
}

function normalise(u: Partial<User>): User {
  // A record without `keys` was written by AIBrix itself, where 0 means "default": rpm 100, tpm rpm·1000.
  if (!Array.isArray(u.keys)) {
    const rpm = typeof u.rpm === "number" && u.rpm > 0 ? u.rpm : 100;
    const tpm = typeof u.tpm === "number" && u.tpm > 0 ? u.tpm : rpm * 1000;
    return { name: String(u.name), rpm, tpm, keys: [] };
  }
  return {
    name: String(u.name),
    rpm: typeof u.rpm === "number" ? u.rpm : null,
    tpm: typeof u.tpm === "number" ? u.tpm : null,
    ...(typeof u.priority === "number" ? { priority: u.priority } : {}),
    ...(Array.isArray(u.models) ? { models: u.models } : {}),
    keys: Array.isArray(u.keys) ? u.keys : [],
  };
}

function clone(u: User | undefined): User | undefined {
  return u ? { ...u, keys: [...u.keys], ...(u.models ? { models: [...u.models] } : {}) } : undefined;
}
