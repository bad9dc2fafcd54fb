// Where the optimizer reads the router's workload signal (api/workload-signal.ts): the routers' /metrics (the counter's
// growth between two scrapes is one interval's counts) or upstream's per-interval trace keys in Redis. A router that
// cannot be reached gives no point for that interval — never a zero, which would read as "no traffic".
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Redis } from "ioredis";
import { parsePrometheusText } from "../engines/prometheus.js";
import { decodeTrace, traceKeyPrefix, WORKLOAD_METRIC } from "../api/workload-signal.js";
import type { SignalPoint } from "./window.js";

export interface SignalSource {
  /** New points per model since the last poll, stamped `now` (unix seconds). */
  poll(models: readonly string[], now: number): Promise<Map<string, SignalPoint[]>>;
  /** Errors from the last poll, one line each (a router down, a malformed key). */
  readonly lastErrors: readonly string[];
  close(): Promise<void>;
}

type Totals = Map<string, number>; // "model\0bucket" → counter value

/** Scrapes `aibrix_router_workload_requests_total` from each router URL and turns counter growth into points. */
export class RouterMetricsSource implements SignalSource {
  private readonly baselines = new Map<string, Totals>();
  lastErrors: string[] = [];

  constructor(
    private readonly urls: readonly string[],
    private readonly timeoutMs = 3000,
  ) {
    for (const u of urls) {
      if (!/^https?:\/\//.test(u)) throw new RangeError(`router URL ${JSON.stringify(u)}: must be an http(s) URL`);
    }
  }

  private async scrape(url: string): Promise<Totals> {
    const res = await fetch(new URL("/metrics", url), { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const totals: Totals = new Map();
    for (const s of parsePrometheusText(await res.text(), (n) => n === WORKLOAD_METRIC)) {
      const model = s.labels.model;
      const bucket = s.labels.bucket;
      if (model && bucket) totals.set(`${model}\u0000${bucket}`, s.value);
    }
    return totals;
  }

  /**
   * Each router URL, one per address its host name resolves to: behind a headless Service every replica is scraped
   * (a load-balanced name would hand each scrape to a different replica and make the differences meaningless).
   */
  private async replicaUrls(errors: string[]): Promise<string[]> {
    const lists = await Promise.all(
      this.urls.map(async (raw) => {
        const url = new URL(raw);
        const host = url.hostname.replace(/^\[|\]$/g, "");
        if (isIP(host) || host === "localhost") return [raw];
        try {
          const addrs = await lookup(host, { all: true });
          return addrs.map((a) => {
            const u = new URL(raw);
            u.hostname = a.family === 6 ? `[${a.address}]` : a.address;
            return u.toString();
          });
        } catch (err) {
          errors.push(`router ${raw}: ${(err as Error).message}`);
          return [];
        }
      }),
    );
    return lists.flat();
  }

  async poll(models: readonly string[], now: number): Promise<Map<string, SignalPoint[]>> {
    const wanted = new Set(models);
    const counts = new Map<string, Record<string, number>>();
    const errors: string[] = [];
    const heard = new Set<string>();
    const urls = await this.replicaUrls(errors);
    // A replica gone from the name forgets its baseline, so one that comes back starts from a fresh one.
    for (const known of this.baselines.keys()) if (!urls.includes(known)) this.baselines.delete(known);
    await Promise.all(
      urls.map(async (url) => {
        let totals: Totals;
        try {
          totals = await this.scrape(url);
        } catch (err) {
          errors.push(`router ${url}: ${(err as Error).message}`);
          return;
        }
        const before = this.baselines.get(url);
        this.baselines.set(url, totals);
        if (!before) return; // the first scrape is only a baseline
        heard.add(url);
        for (const [key, value] of totals) {
          const [model, bucket] = key.split("\u0000") as [string, string];
          if (!wanted.has(model)) continue;
          const prev = before.get(key) ?? 0;
          const delta = value >= prev ? value - prev : value; // a restarted router starts its counter again
          if (delta <= 0) continue;
          const c = counts.get(model) ?? {};
          c[bucket] = (c[bucket] ?? 0) + delta;
          counts.set(model, c);
        }
      }),
    );
    this.lastErrors = errors;
    const out = new Map<string, SignalPoint[]>();
    if (heard.size === 0) return out;
    for (const model of models) out.set(model, [{ time: now, counts: counts.get(model) ?? {} }]);
    return out;
  }

  async close(): Promise<void> {}
}

/** Reads upstream's `aibrix:<model>_request_trace_<ts>` keys: all recent ones at first, then each new interval. */
export class RedisTraceSource implements SignalSource {
  /** model → start time of the newest interval read. */
  private readonly lastRead = new Map<string, number>();
  lastErrors: string[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly windowSeconds: number,
  ) {}

  private async keysOf(model: string): Promise<{ key: string; ts: number }[]> {
    const prefix = traceKeyPrefix(model);
    const found: { key: string; ts: number }[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(
        cursor,
        "MATCH",
        `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`,
        "COUNT",
        500,
      );
      cursor = next;
      for (const key of keys) {
        const ts = Number(key.slice(prefix.length));
        if (Number.isInteger(ts)) found.push({ key, ts });
      }
    } while (cursor !== "0");
    return found.sort((a, b) => a.ts - b.ts);
  }

  async poll(models: readonly string[], now: number): Promise<Map<string, SignalPoint[]>> {
    const out = new Map<string, SignalPoint[]>();
    const errors: string[] = [];
    for (const model of models) {
      try {
        const since = this.lastRead.get(model) ?? now - this.windowSeconds;
        const keys = (await this.keysOf(model)).filter((k) => k.ts > since && k.ts <= now);
        if (keys.length === 0) {
          out.set(model, []);
          continue;
        }
        const texts = await this.redis.mget(keys.map((k) => k.key));
        const points: SignalPoint[] = [];
        keys.forEach((k, i) => {
          const text = texts[i];
          if (text == null) return;
          try {
            const trace = decodeTrace(text);
            // Keys are named by the interval's start; a point is stamped with its end.
            points.push({ time: k.ts + trace.intervalSeconds, counts: trace.counts });
          } catch (err) {
            errors.push(`${k.key}: ${(err as Error).message}`);
          }
        });
        this.lastRead.set(model, keys.at(-1)!.ts);
        out.set(model, points);
      } catch (err) {
        errors.push(`redis (${model}): ${(err as Error).message}`);
      }
    }
    this.lastErrors = errors;
    return out;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
