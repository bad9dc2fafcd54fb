// One tick of a KPA or APA PodAutoscaler as a pure function: the target's replicas, its pods' standing, one reading
// per metric source, the clock and this PodAutoscaler's own memory in; the replicas to ask for and the memory for
// the next tick out. Nothing here reads the cluster, so every decision replays from recorded inputs.
import {
  DEFAULT_OBSERVE_WINDOW_SECONDS,
  DEFAULT_PANIC_WINDOW_SECONDS,
  type MetricSource,
  type PodAutoscaler as PodAutoscalerShape,
} from "../../api/kinds/pod-autoscaler.js";
import type { KubeObject } from "../../kube/objects.js";
import type { AutoscalerTuning } from "./annotations.js";
import { decideApa } from "./apa.js";
import { CALM, clampToBounds, decideKpa, type KpaState } from "./kpa.js";
import { countsAsStarting, type PodStanding } from "./pods.js";
import { resolveBounds, type ResolvedBounds } from "./schedule.js";
import type { SourceReading } from "./sources/types.js";
import {
  countsAsCapacity,
  recordSample,
  stabilise,
  tickValue,
  windowAverage,
  type MetricWindow,
  type Recommendation,
} from "./window.js";

export type PodAutoscaler = PodAutoscalerShape & KubeObject & { apiVersion: string; kind: string };

/** What one metric source remembers between ticks. */
export interface SourceMemory {
  /** Σ over counted pods per tick (KPA's V), or the external total. */
  total: MetricWindow;
  /** The mean per counted pod per tick (APA's u). */
  perPod: MetricWindow;
  kpa: KpaState;
  /** When the first sample of this source was recorded; undefined until one is. */
  observedSinceMs: number | undefined;
}

/** Everything one PodAutoscaler remembers; never shared with another (keyed by uid and spec generation). */
export interface AutoscalerMemory {
  uid: string;
  generation: number;
  sources: SourceMemory[];
  recommendations: readonly Recommendation[];
}

export function freshMemory(pa: PodAutoscaler): AutoscalerMemory {
  return {
    uid: pa.metadata?.uid ?? "",
    generation: pa.metadata?.generation ?? 0,
    sources: pa.spec.metricsSources.map(() => ({
      total: [],
      perPod: [],
      kpa: { ...CALM },
      observedSinceMs: undefined,
    })),
    recommendations: [],
  };
}

/** The memory to use for `pa`: its own if the object and spec are the same, otherwise a fresh one. */
export function memoryFor(pa: PodAutoscaler, memory: AutoscalerMemory | undefined): AutoscalerMemory {
  const same =
    memory &&
    memory.uid === (pa.metadata?.uid ?? "") &&
    memory.generation === (pa.metadata?.generation ?? 0) &&
    memory.sources.length === pa.spec.metricsSources.length;
  return same ? memory : freshMemory(pa);
}

export interface TickInput {
  pa: PodAutoscaler;
  tuning: AutoscalerTuning;
  nowMs: number;
  /** Replicas the target asks for (`/scale` spec.replicas). */
  replicas: number;
  /** The target's pods, whatever their standing. */
  pods: readonly PodStanding[];
  /** One per `spec.metricsSources` entry, in order. */
  readings: readonly SourceReading[];
  memory: AutoscalerMemory;
}

export interface SourceOutcome {
  metric: string;
  /** Replicas this source asks for; undefined when it had no fresh sample this tick. */
  desired: number | undefined;
  value: number | undefined;
  panicking: boolean;
  problem?: string;
}

export interface TickDecision {
  /** Replicas the target should have after this tick (bounds and stabilisation applied). */
  desired: number;
  reason: string;
  bounds: ResolvedBounds;
  /** False when the target is paused at 0 replicas (HPA semantics): nothing was decided. */
  active: boolean;
  panicking: boolean;
  sources: SourceOutcome[];
  memory: AutoscalerMemory;
}

export const observeWindowMs = (pa: PodAutoscaler): number =>
  (pa.spec.observeWindowSeconds ?? DEFAULT_OBSERVE_WINDOW_SECONDS) * 1000;
export const panicWindowMs = (pa: PodAutoscaler): number =>
  (pa.spec.panicWindowSeconds ?? DEFAULT_PANIC_WINDOW_SECONDS) * 1000;

export function baseBounds(pa: PodAutoscaler): { min: number; max: number } {
  return { min: pa.spec.minReplicas ?? 1, max: pa.spec.maxReplicas };
}

interface SourceTick {
  input: TickInput;
  source: MetricSource;
  reading: SourceReading;
  memory: SourceMemory;
  bounds: ResolvedBounds;
  capacity: number;
  starting: number;
}

/** Records this tick's sample and returns what the source asks for (undefined: nothing fresh, so hold). */
function tickSource(t: SourceTick): { outcome: SourceOutcome; memory: SourceMemory } {
  const { input, source, reading } = t;
  const { nowMs, pa, tuning, replicas } = input;
  const observeMs = observeWindowMs(pa);
  const retainMs = Math.max(observeMs, panicWindowMs(pa));
  const metric = source.targetMetric;
  let total: number | undefined;
  let perPod: number | undefined;
  let problem: string | undefined;
  if (reading.kind === "pods") {
    const samples = input.pods.map((p) => ({ ...p, pod: p.name, value: reading.values.get(p.name) }));
    const tick = tickValue(samples);
    total = tick?.total;
    perPod = tick?.average;
    if (!tick) problem = `no counted pod answered for ${metric}`;
  } else if (reading.kind === "total") {
    total = reading.value;
    // A cluster-wide value is already a total: APA's per-pod ratio divides it by the replicas, never multiplies.
    perPod = total === undefined ? undefined : total / Math.max(1, replicas);
    if (total === undefined) problem = `no value for ${metric}`;
  } else problem = reading.message;
  const memory: SourceMemory = {
    total: recordSample(t.memory.total, nowMs, total, retainMs),
    perPod: recordSample(t.memory.perPod, nowMs, perPod, retainMs),
    kpa: t.memory.kpa,
    observedSinceMs: t.memory.observedSinceMs ?? (total === undefined ? undefined : nowMs),
  };
  const target = Number(source.targetValue);
  const bounds = { min: t.bounds.min, max: t.bounds.max };
  if (total === undefined) {
    // A missing tick holds: a stale window must not drive a scale-down while the metric cannot be read.
    return { outcome: { metric, desired: undefined, value: undefined, panicking: false, problem }, memory };
  }
  if (pa.spec.scalingStrategy === "APA") {
    const d = decideApa({
      perPodValue: windowAverage(memory.perPod, nowMs, observeMs),
      target,
      currentReplicas: replicas,
      readyPods: t.capacity,
      bounds,
      tuning,
    });
    return { outcome: { metric, desired: d.desired, value: perPod, panicking: false }, memory };
  }
  const d = decideKpa({
    nowMs,
    stableValue: windowAverage(memory.total, nowMs, observeMs),
    panicValue: windowAverage(memory.total, nowMs, panicWindowMs(pa)),
    target,
    observedMs: nowMs - (memory.observedSinceMs ?? nowMs),
    readyPods: t.capacity,
    startingPods: t.starting,
    currentReplicas: replicas,
    stableWindowMs: observeMs,
    bounds,
    tuning,
    state: t.memory.kpa,
  });
  return {
    outcome: { metric, desired: d.desired, value: total, panicking: d.panicking },
    memory: { ...memory, kpa: d.state },
  };
}

export function decideTick(input: TickInput): TickDecision {
  const { pa, nowMs, replicas, tuning } = input;
  const memory = memoryFor(pa, input.memory);
  const bounds = resolveBounds(baseBounds(pa), pa.spec.schedules ?? [], nowMs);
  const clamp = (n: number) => clampToBounds(n, bounds, tuning.scaleToZero);
  // 0 replicas with a floor above 0 and no schedule raising it is a person's pause (HPA semantics): leave it.
  if (replicas === 0 && bounds.min > 0 && !bounds.activeSchedule && !tuning.scaleToZero) {
    return { desired: 0, reason: "ScalingDisabled", bounds, active: false, panicking: false, sources: [], memory };
  }
  const capacity = input.pods.filter(countsAsCapacity).length;
  const starting = input.pods.filter(countsAsStarting).length;
  const sources: SourceOutcome[] = [];
  const nextSources: SourceMemory[] = [];
  pa.spec.metricsSources.forEach((source, i) => {
    const reading = input.readings[i] ?? { kind: "error", message: "not read" };
    const r = tickSource({ input, source, reading, memory: memory.sources[i]!, bounds, capacity, starting });
    sources.push(r.outcome);
    nextSources.push(r.memory);
  });
  const asks = sources.map((s) => s.desired).filter((d): d is number => d !== undefined);
  const panicking = sources.some((s) => s.panicking);
  // Several sources: the largest ask wins. None fresh: hold what the target has.
  const recommended = asks.length > 0 ? Math.max(...asks) : replicas;
  const stable = stabilise(memory.recommendations, nowMs, recommended, replicas, {
    upMs: tuning.scaleUpCooldownMs,
    downMs: tuning.scaleDownCooldownMs,
  });
  const desired = clamp(stable.replicas);
  let reason: string;
  if (clamp(replicas) !== replicas && desired === clamp(replicas)) reason = "BoundaryCheck";
  else if (asks.length === 0) reason = "NoMetrics";
  else if (desired > replicas) reason = panicking ? "PanicScaleUp" : "ScaleUp";
  else if (desired < replicas) reason = "ScaleDown";
  else reason = panicking ? "Panic" : "Stable";
  return {
    desired,
    reason,
    bounds,
    active: true,
    panicking,
    sources,
    memory: { ...memory, sources: nextSources, recommendations: stable.history },
  };
}
