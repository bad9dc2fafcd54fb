// The workload signal: what the router tells the GPU optimizer about each model's requests. Every finished request
// falls in a bucket named by its token counts, "<round(log2 input)>-<round(log2 output)>"; counts per bucket are
// published two ways, both read by the optimizer:
//
// - Prometheus, on the router's own /metrics: counter `aibrix_router_workload_requests_total{model, bucket}` (the
//   optimizer scrapes it and takes the difference between scrapes);
// - Redis, upstream AIBrix's layout: every interval (10 s) one key `aibrix:<model>_request_trace_<unix ts aligned to
//   the interval>` holding a JSON object `{"<a>:<b>": count, ..., "meta_v": 3, "meta_precision": P,
//   "meta_interval_sec": 10, "meta_total_reqs": N, "meta_pending_reqs": 0}`, where a = round(log2(input) · P).

export const WORKLOAD_METRIC = "aibrix_router_workload_requests_total";
export const DEFAULT_SIGNAL_INTERVAL_SECONDS = 10;
/** Redis keys written by the router expire after this (the optimizer's window is 240 s; upstream reads older keys once). */
export const TRACE_TTL_SECONDS = 3600;

const BUCKET = /^(\d{1,2})-(\d{1,2})$/;

/** The bucket a finished request falls in. */
export function bucketKey(inputTokens: number, outputTokens: number): string {
  const log = (n: number) => Math.max(0, Math.round(Math.log2(Math.max(1, n))));
  return `${log(inputTokens)}-${log(outputTokens)}`;
}

/** The token counts a bucket stands for: 2^a input tokens, 2^b output tokens. Throws naming a malformed key. */
export function parseBucketKey(key: string): { inputTokens: number; outputTokens: number } {
  const m = BUCKET.exec(key);
  if (!m) throw new RangeError(`workload bucket key "${key}": must be "<log2 input>-<log2 output>", e.g. "7-4"`);
  return { inputTokens: 2 ** Number(m[1]), outputTokens: 2 ** Number(m[2]) };
}

/** Prefix of a model's trace keys in Redis (upstream layout). */
export function traceKeyPrefix(model: string): string {
  return `aibrix:${model}_request_trace_`;
}

/** The Redis key for the interval starting at `unixSeconds` (aligned down to the interval). */
export function traceKey(
  model: string,
  unixSeconds: number,
  intervalSeconds = DEFAULT_SIGNAL_INTERVAL_SECONDS,
): string {
  return `${traceKeyPrefix(model)}${Math.floor(unixSeconds / intervalSeconds) * intervalSeconds}`;
}

/** One interval's counts as upstream's trace JSON (meta_v 3, precision 1). */
export function encodeTrace(counts: Record<string, number>, intervalSeconds: number): string {
  const out: Record<string, number> = {};
  let total = 0;
  for (const [key, n] of Object.entries(counts)) {
    const [a, b] = key.split("-");
    out[`${a}:${b}`] = n;
    total += n;
  }
  return JSON.stringify({
    ...out,
    meta_v: 3,
    meta_precision: 1,
    meta_interval_sec: intervalSeconds,
    meta_total_reqs: total,
    meta_pending_reqs: 0,
  });
}

export interface DecodedTrace {
  /** Counts per bucket key ("<a>-<b>"). */
  counts: Record<string, number>;
  intervalSeconds: number;
}

/**
 * Reads an upstream trace object (meta_v 1..3, any meta_precision): keys "<a>:<b>" scaled by the precision become our
 * bucket keys. Throws naming the first malformed entry.
 */
export function decodeTrace(text: string, defaultIntervalSeconds = DEFAULT_SIGNAL_INTERVAL_SECONDS): DecodedTrace {
  const raw: unknown = JSON.parse(text);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new RangeError('workload trace: must be a JSON object of "<a>:<b>": count');
  }
  const obj = raw as Record<string, unknown>;
  const precision = typeof obj.meta_precision === "number" && obj.meta_precision > 0 ? obj.meta_precision : 1;
  const version = typeof obj.meta_v === "number" ? obj.meta_v : 1;
  const interval =
    version >= 2 && typeof obj.meta_interval_sec === "number" && obj.meta_interval_sec > 0
      ? obj.meta_interval_sec
      : defaultIntervalSeconds;
  const counts: Record<string, number> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (key.startsWith("meta_")) continue;
    const m = /^(\d+):(\d+)$/.exec(key);
    if (!m) throw new RangeError(`workload trace key "${key}": must be "<int>:<int>"`);
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new RangeError(`workload trace ["${key}"] ${String(value)}: must be a count`);
    const bucket = `${Math.round(Number(m[1]) / precision)}-${Math.round(Number(m[2]) / precision)}`;
    counts[bucket] = (counts[bucket] ?? 0) + n;
  }
  return { counts, intervalSeconds: interval };
}
