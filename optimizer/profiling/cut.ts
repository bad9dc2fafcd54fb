// Cutting a profile at an SLO: from measured sweep rows (one per input × output × offered rate) to upstream's profile
// JSON. For each bucket the highest offered rate is kept whose SLO percentile holds and whose achieved rate is at
// least 90 % of the offered one (upstream's rule), measured at steady state (below); 0 when no rate qualifies.
import type { GpuProfile, SloSpec } from "../../api/gpu-profile.js";

/** One measured point of a sweep. Latencies in seconds. */
export interface SweepRow {
  inputTokens: number;
  outputTokens: number;
  /** Offered rate, req/s. */
  rate: number;
  /** Achieved rate: completed requests ÷ the time from the first send to the last completion. */
  achievedRate: number;
  samples: number;
  /**
   * Seconds from the first arrival to the last (engine time). Rows written before it was recorded are judged by
   * samples ÷ rate, the span their arrivals were drawn for.
   */
  arrivalSpan?: number;
  /** Requests that failed (non-200 or cut off); any failure disqualifies the point. */
  failures: number;
  e2e: Percentiles;
  ttft: Percentiles;
  /** Time per output token after the first. */
  tpot: Percentiles;
}

export interface Percentiles {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

export const ACHIEVED_RATE_FLOOR = 0.9;

/**
 * A point shows sustained capacity only when its arrivals last several request lifetimes: a burst shorter than one
 * request's own end-to-end time fits in the engine's batch whatever the rate (100 requests of 512 output tokens at
 * 64 req/s "keep pace" on one L40S, yet at that rate the queue grows without bound). So arrivals must span at least
 * STEADY_SPANS × the point's median E2E; by then the batch has filled and turned over STEADY_SPANS − 1 times, and at
 * least (STEADY_SPANS − 1) / STEADY_SPANS of the samples saw a full engine.
 */
export const STEADY_SPANS = 4;

export function arrivalSpanOf(row: SweepRow): number {
  return row.arrivalSpan ?? (row.samples + row.failures) / row.rate;
}

/** Whether the point ran long enough to show the engine's sustained behaviour at its rate. */
export function isSteady(row: SweepRow): boolean {
  return arrivalSpanOf(row) >= STEADY_SPANS * row.e2e.p50;
}

/**
 * Requests a point at `rate` needs to be steady, given the median E2E seen at that rate (or a lower one), with a
 * quarter more for the Poisson spread of the span; never fewer than `min`.
 */
export function steadyRequests(rate: number, e2eP50: number, min: number): number {
  return Math.max(min, Math.ceil(rate * STEADY_SPANS * e2eP50 * 1.25));
}

export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { mean: NaN, p50: NaN, p90: NaN, p99: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { mean: sorted.reduce((s, v) => s + v, 0) / sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

function pick(p: Percentiles, percentile: number): number {
  if (percentile === 0) return p.mean;
  if (percentile === 50) return p.p50;
  if (percentile === 90) return p.p90;
  if (percentile === 99) return p.p99;
  throw new RangeError(`slo percentile ${percentile}: must be 0 (mean), 50, 90 or 99`);
}

/** Whether one measured point meets the SLO, steadiness aside (what the sweep checks before lengthening it). */
export function meetsSloAtAnyLength(row: SweepRow, slo: SloSpec): boolean {
  if (row.failures > 0 || row.samples === 0) return false;
  if (row.achievedRate < ACHIEVED_RATE_FLOOR * row.rate) return false;
  if (slo.e2e !== undefined && !(pick(row.e2e, slo.percentile) <= slo.e2e)) return false;
  if (slo.ttft !== undefined && !(pick(row.ttft, slo.percentile) <= slo.ttft)) return false;
  if (slo.tpot !== undefined && !(pick(row.tpot, slo.percentile) <= slo.tpot)) return false;
  return true;
}

/** Whether one measured point meets the SLO: at steady state, with the engine keeping pace, within the bounds. */
export function meetsSlo(row: SweepRow, slo: SloSpec): boolean {
  return isSteady(row) && meetsSloAtAnyLength(row, slo);
}

export interface CutOptions {
  gpu: string;
  /** $ per hour of one replica. */
  cost: number;
  slo: SloSpec;
  inputBuckets: readonly number[];
  outputBuckets: readonly number[];
  created?: number;
}

/** The profile: tputs[o][i] = highest qualifying rate, e2e/ttft[o][i] = the percentile measured there. */
export function cutProfile(rows: readonly SweepRow[], o: CutOptions): GpuProfile {
  const tputs: number[][] = [];
  const e2e: number[][] = [];
  const ttft: number[][] = [];
  for (const out of o.outputBuckets) {
    const tRow: number[] = [];
    const eRow: number[] = [];
    const fRow: number[] = [];
    for (const inp of o.inputBuckets) {
      const best = rows
        .filter((r) => r.inputTokens === inp && r.outputTokens === out && meetsSlo(r, o.slo))
        .sort((a, b) => b.rate - a.rate)[0];
      tRow.push(best ? best.rate : 0);
      eRow.push(best ? pick(best.e2e, o.slo.percentile) : 0);
      fRow.push(best ? pick(best.ttft, o.slo.percentile) : 0);
    }
    tputs.push(tRow);
    e2e.push(eRow);
    ttft.push(fRow);
  }
  return {
    gpu: o.gpu,
    cost: o.cost,
    tputs,
    indexes: [[...o.outputBuckets], [...o.inputBuckets]],
    e2e,
    ttft,
    slos: o.slo,
    created: o.created ?? Math.floor(Date.now() / 1000),
  };
}
