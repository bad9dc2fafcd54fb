// Load generation with undici: open loop at a fixed rate (latency under a steady arrival rate) and closed loop at
// fixed concurrency (capacity). Latencies in ms.
import { Pool } from "undici";

export interface RequestSpec {
  path: string;
  body: string;
  headers?: Record<string, string>;
}

export interface Sample {
  /** Start time (ms since run start). */
  at: number;
  /** Full response time, ms. */
  ms: number;
  /** Time to first body byte, ms. */
  ttftMs: number;
  status: number;
  bytes: number;
  /** Completion tokens reported by the response's usage (streams: include_usage). */
  completionTokens: number;
  /** Target reported by the router (`target-pod`), when any. */
  target?: string;
  /** Why a request failed: the end of a non-2xx answer's body, or the client error. */
  error?: string;
}

const USAGE = /"completion_tokens":\s*(\d+)/g;

async function one(pool: Pool, spec: RequestSpec, t0: number): Promise<Sample> {
  const start = performance.now();
  try {
    const res = await pool.request({
      path: spec.path,
      method: "POST",
      headers: { "content-type": "application/json", ...spec.headers },
      body: spec.body,
    });
    let first = 0;
    let bytes = 0;
    let tail = "";
    for await (const chunk of res.body) {
      if (first === 0) first = performance.now();
      bytes += (chunk as Buffer).length;
      tail = (tail + (chunk as Buffer).toString("utf8")).slice(-600);
    }
    const end = performance.now();
    let completionTokens = 0;
    for (const m of tail.matchAll(USAGE)) completionTokens = Number(m[1]);
    const target = res.headers["target-pod"];
    return {
      at: start - t0,
      ms: end - start,
      ttftMs: (first || end) - start,
      status: res.statusCode,
      bytes,
      completionTokens,
      target: typeof target === "string" ? target : undefined,
      ...(res.statusCode >= 300 ? { error: tail.slice(-300) } : {}),
    };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return {
      at: start - t0,
      ms: performance.now() - start,
      ttftMs: 0,
      status: 0,
      bytes: 0,
      completionTokens: 0,
      error,
    };
  }
}

export function makePool(url: string, connections = 512): Pool {
  return new Pool(url, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: 600_000,
    bodyTimeout: 600_000,
  });
}

/**
 * Send `rate` req/s for `durationMs` (open loop: arrivals do not wait for answers). Pass a warmed `Pool` to measure
 * steady state: a fresh pool opens connections under load, and that connection storm is not what is measured.
 */
export async function openLoop(
  target: string | Pool,
  next: (i: number) => RequestSpec,
  rate: number,
  durationMs: number,
): Promise<Sample[]> {
  const pool = typeof target === "string" ? makePool(target) : target;
  const t0 = performance.now();
  const pending: Promise<Sample>[] = [];
  let sent = 0;
  const total = Math.round((rate * durationMs) / 1000);
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000));
      while (sent < due) {
        pending.push(one(pool, next(sent), t0));
        sent++;
      }
      if (sent >= total) return resolve();
      setTimeout(tick, 1);
    };
    tick();
  });
  const samples = await Promise.all(pending);
  if (typeof target === "string") await pool.close();
  return samples;
}

/** Poisson arrivals at `rate` req/s (for workloads where burstiness matters). */
export async function poissonLoop(
  url: string,
  next: (i: number) => RequestSpec,
  rate: number,
  count: number,
  connections = 1024,
): Promise<Sample[]> {
  const pool = makePool(url, connections);
  const t0 = performance.now();
  const pending: Promise<Sample>[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    at += (-Math.log(1 - Math.random()) / rate) * 1000;
    const wait = at - (performance.now() - t0);
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(one(pool, next(i), t0));
  }
  const samples = await Promise.all(pending);
  await pool.close();
  return samples;
}

/** `concurrency` workers back to back for `durationMs`; returns completed requests per second and samples. */
export async function closedLoop(
  target: string | Pool,
  next: (i: number) => RequestSpec,
  concurrency: number,
  durationMs: number,
): Promise<{ rps: number; samples: Sample[] }> {
  const pool = typeof target === "string" ? makePool(target, concurrency) : target;
  const t0 = performance.now();
  const samples: Sample[] = [];
  let i = 0;
  const end = t0 + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) samples.push(await one(pool, next(i++), t0));
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  if (typeof target === "string") await pool.close();
  return { rps: samples.filter((s) => s.status === 200).length / elapsed, samples };
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
