// A sliding window over the router's workload signal: every interval (10 s) the router flushes how many requests it
// finished per shape, keyed "<round(log2 input)>-<round(log2 output)>". The window turns those counts into a rate per
// bucket for the MILP: the window's shape distribution w_b, scaled by λ = max(window mean rate, latest rate) so a
// sudden rise is served at once while a fall is smoothed over the window.
import { parseBucketKey } from "../api/workload-signal.js";
import type { BucketLoad } from "./milp.js";

export const DEFAULT_WINDOW_SECONDS = 240;
export const DEFAULT_INTERVAL_SECONDS = 10;

/** One flush of the router: counts per bucket key over the interval ending at `time` (unix seconds). */
export interface SignalPoint {
  time: number;
  counts: Record<string, number>;
}

export interface WindowRates {
  /** λ in req/s: the larger of the window's mean rate and the latest interval's rate. */
  totalRate: number;
  /** Mean rate over the window, req/s. */
  meanRate: number;
  /** Latest interval's rate, req/s (0 when no flush arrived in the last interval). */
  currentRate: number;
  /** Per bucket: its share of the window's requests times λ, largest first. */
  buckets: BucketLoad[];
}

export class WorkloadWindow {
  private points: SignalPoint[] = [];
  /** Start of the first interval ever observed: before it there is no evidence, so it does not dilute the mean. */
  private since: number | undefined;

  constructor(
    readonly windowSeconds = DEFAULT_WINDOW_SECONDS,
    readonly intervalSeconds = DEFAULT_INTERVAL_SECONDS,
  ) {
    if (!(intervalSeconds > 0)) throw new RangeError(`intervalSeconds ${intervalSeconds}: must be > 0`);
    if (!(windowSeconds >= intervalSeconds)) {
      throw new RangeError(`windowSeconds ${windowSeconds}: must be >= intervalSeconds (${intervalSeconds})`);
    }
  }

  /** Whether any flush arrived yet: before that the workload is unknown, not zero. */
  get heard(): boolean {
    return this.since !== undefined;
  }

  /** Records one flush. Throws naming the key or count when the point is malformed; nothing is recorded then. */
  add(point: SignalPoint): void {
    if (!Number.isFinite(point.time)) throw new RangeError(`time ${point.time}: must be unix seconds`);
    for (const [key, count] of Object.entries(point.counts)) {
      parseBucketKey(key);
      if (!Number.isFinite(count) || count < 0) {
        throw new RangeError(`counts["${key}"] ${count}: must be a finite number >= 0`);
      }
    }
    const start = point.time - this.intervalSeconds;
    this.since = this.since === undefined ? start : Math.min(this.since, start);
    this.points.push({ time: point.time, counts: { ...point.counts } });
    this.points.sort((a, b) => a.time - b.time);
  }

  /** Rates per bucket as of `now` (unix seconds); points older than the window are dropped. */
  rates(now: number): WindowRates {
    const from = now - this.windowSeconds;
    this.points = this.points.filter((p) => p.time > from);
    const totals = new Map<string, number>();
    let all = 0;
    for (const p of this.points) {
      if (p.time > now) continue;
      for (const [key, count] of Object.entries(p.counts)) {
        totals.set(key, (totals.get(key) ?? 0) + count);
        all += count;
      }
    }
    const span = this.since === undefined ? 0 : Math.min(this.windowSeconds, now - this.since);
    const meanRate = span > 0 ? all / span : 0;
    const latest = this.points.filter((p) => p.time <= now).at(-1);
    const currentRate =
      latest && latest.time > now - this.intervalSeconds ? sum(latest.counts) / this.intervalSeconds : 0;
    const totalRate = Math.max(meanRate, currentRate);
    const buckets = [...totals]
      .filter(([, count]) => count > 0)
      .map(([key, count]) => ({ ...parseBucketKey(key), rate: (totalRate * count) / all }))
      .sort((a, b) => b.rate - a.rate);
    return { totalRate, meanRate, currentRate, buckets };
  }
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
