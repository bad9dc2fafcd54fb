// The figures of one arm of one round, from what the load client and the cluster observer recorded. Pure, so the
// rules (what a direction change is, which minutes count, how GPU time adds up) are tested on their own.

/** One request as the load client saw it; ttftS is Infinity for a request that failed or never answered. */
export interface RequestRecord {
  /** Trace second it was sent at. */
  at: number;
  /** Trace seconds from sending to the first body byte. */
  ttftS: number;
}

/** The cluster as the observer sampled it. */
export interface ClusterSample {
  /** Trace second. */
  second: number;
  /** The Deployment's spec.replicas. */
  replicas: number;
  /** Pods that exist (starting, Ready or terminating): each holds a GPU. */
  pods: number;
  /** Pods whose Ready condition is True. */
  ready: number;
}

/** Reversals of the scaling direction in a series of replica counts (up then down = 1, steady steps ignored). */
export function directionChanges(replicas: readonly number[]): number {
  let last = 0;
  let changes = 0;
  for (let i = 1; i < replicas.length; i++) {
    const d = Math.sign(replicas[i]! - replicas[i - 1]!);
    if (d === 0) continue;
    if (last !== 0 && d !== last) changes++;
    last = d;
  }
  return changes;
}

/** The nearest-rank 90th percentile; NaN for none. */
export function p90(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(0.9 * s.length) - 1)]!;
}

/** Per trace minute with any request: whether its TTFT p90 (failures as infinite) is within the bound. */
export function minutesMet(requests: readonly RequestRecord[], boundS: number): { minute: number; met: boolean }[] {
  const byMinute = new Map<number, number[]>();
  for (const r of requests) {
    const m = Math.floor(r.at / 60);
    if (!byMinute.has(m)) byMinute.set(m, []);
    byMinute.get(m)!.push(r.ttftS);
  }
  return [...byMinute.entries()].sort((a, b) => a[0] - b[0]).map(([minute, v]) => ({ minute, met: p90(v) <= boundS }));
}

/** The share of trace minutes (with traffic) whose TTFT p90 is within the bound. */
export function sloAttainment(requests: readonly RequestRecord[], boundS: number): number {
  const minutes = minutesMet(requests, boundS);
  return minutes.length === 0 ? NaN : minutes.filter((m) => m.met).length / minutes.length;
}

/** GPU-seconds over [0, endS]: each sample's pod count held until the next sample (or the end). */
export function gpuSeconds(samples: readonly ClusterSample[], endS: number): number {
  const inside = samples.filter((s) => s.second <= endS);
  let total = 0;
  inside.forEach((s, i) => {
    const until = Math.min(endS, inside[i + 1]?.second ?? endS);
    total += s.pods * Math.max(0, until - Math.max(0, s.second));
  });
  return total;
}

/** Trace seconds from `fromS` to the first sample with at least `enough` Ready pods; undefined if never by `untilS`. */
export function secondsToReady(
  samples: readonly ClusterSample[],
  fromS: number,
  untilS: number,
  enough: number,
): number | undefined {
  const hit = samples.find((s) => s.second >= fromS && s.second <= untilS && s.ready >= enough);
  return hit ? Math.max(0, hit.second - fromS) : undefined;
}

/** The figures the target is judged on, for one arm of one round: over trace seconds 0..traceS. */
export interface HeadlineFigures {
  /** Direction changes of the replicas asked for. */
  oscillations: number;
  sloAttainment: number;
  gpuSeconds: number;
}

/** `records`: the measured requests (the prelude's left out by the caller). */
export function headlineFigures(
  samples: readonly ClusterSample[],
  records: readonly RequestRecord[],
  traceS: number,
  boundS: number,
): HeadlineFigures {
  const inTrace = samples.filter((s) => s.second >= 0 && s.second <= traceS);
  return {
    oscillations: directionChanges(inTrace.map((s) => s.replicas)),
    sloAttainment: sloAttainment(records, boundS),
    gpuSeconds: Math.round(gpuSeconds(samples, traceS)),
  };
}
