// Metric windows and recommendation stabilisation. A scrape that failed or a pod that did not answer leaves a gap,
// never a 0: zeros recorded for failures read as "no load" and cause false scale-downs. Which pods count is decided
// from the caller's snapshot (Ready, not terminating, past warm-up), so a pod still loading weights is not capacity.

/** One pod's scrape at a tick; `value` is undefined when the scrape failed or the metric was absent. */
export interface PodSample {
  pod: string;
  ready: boolean;
  terminating: boolean;
  /** Ready but still inside its warm-up period (image pulled, weights loading, caches cold). */
  warmingUp: boolean;
  value: number | undefined;
}

export interface TickValue {
  /** Σ over counted pods; pods that did not answer are assumed to carry the mean of those that did, not 0. */
  total: number;
  /** The mean per counted pod. */
  average: number;
  /** Pods that count as serving capacity (ready, not terminating, warmed up). */
  counted: number;
  /** Counted pods whose scrape is missing this tick. */
  missing: number;
}

export function countsAsCapacity(p: Pick<PodSample, "ready" | "terminating" | "warmingUp">): boolean {
  return p.ready && !p.terminating && !p.warmingUp;
}

/** The per-tick value across pods, or undefined when no counted pod answered (the tick is missing, not zero). */
export function tickValue(samples: readonly PodSample[]): TickValue | undefined {
  const counted = samples.filter(countsAsCapacity);
  const answered = counted.map((p) => p.value).filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (answered.length === 0) return undefined;
  const average = answered.reduce((s, v) => s + v, 0) / answered.length;
  return {
    total: average * counted.length,
    average,
    counted: counted.length,
    missing: counted.length - answered.length,
  };
}

export interface Sample {
  atMs: number;
  value: number;
}

/** Samples in time order; a missing tick is simply not recorded. */
export type MetricWindow = readonly Sample[];

/** Appends a tick (skipped when missing) and forgets samples older than `retainMs`; returns a new window. */
export function recordSample(
  window: MetricWindow,
  atMs: number,
  value: number | undefined,
  retainMs: number,
): MetricWindow {
  const kept = window.filter((s) => s.atMs > atMs - retainMs && s.atMs <= atMs);
  return value === undefined || !Number.isFinite(value) ? kept : [...kept, { atMs, value }];
}

/** Mean of the samples in (now − windowMs, now], or undefined when the window holds none. */
export function windowAverage(window: MetricWindow, nowMs: number, windowMs: number): number | undefined {
  let sum = 0;
  let n = 0;
  for (const s of window) {
    if (s.atMs > nowMs - windowMs && s.atMs <= nowMs) {
      sum += s.value;
      n++;
    }
  }
  return n === 0 ? undefined : sum / n;
}

export interface Recommendation {
  atMs: number;
  replicas: number;
}

export interface Stabilised {
  replicas: number;
  /** The recommendations to keep for the next tick (pruned to the longer window). */
  history: readonly Recommendation[];
}

/**
 * Kubernetes HPA semantics: a scale-up goes no higher than the lowest recommendation in the up window, a scale-down
 * no lower than the highest recommendation in the down window — so a dip must persist for the whole down window
 * before replicas fall.
 */
export function stabilise(
  history: readonly Recommendation[],
  nowMs: number,
  recommended: number,
  current: number,
  windows: { upMs: number; downMs: number },
): Stabilised {
  const keepMs = Math.max(windows.upMs, windows.downMs);
  const kept = [
    ...history.filter((r) => r.atMs > nowMs - keepMs && r.atMs <= nowMs),
    { atMs: nowMs, replicas: recommended },
  ];
  const inWindow = (ms: number) => kept.filter((r) => r.atMs > nowMs - ms || r.atMs === nowMs).map((r) => r.replicas);
  const upLimit = Math.min(...inWindow(windows.upMs));
  const downLimit = Math.max(...inWindow(windows.downMs));
  let replicas = current;
  if (replicas < upLimit) replicas = upLimit;
  if (replicas > downLimit) replicas = downLimit;
  return { replicas, history: kept };
}
