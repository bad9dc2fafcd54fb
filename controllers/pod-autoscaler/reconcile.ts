// The PodAutoscaler reconciler: every tick reads the target's /scale, its pods and each metric source, asks the
// pure decision (decide.ts) for the replicas, writes /scale when they change, records an Event and a history entry
// for every scale, and publishes status. The HPA strategy instead keeps an owned autoscaling/v2 HPA in step. Each
// PodAutoscaler's memory (metric windows, panic state, recommendations) is its own, keyed by namespace/name and
// reset when the object or its spec changes.
import { formatProblem, validate } from "../../api/index.js";
import type { ReconcileResult } from "../../kube/controller.js";
import type { EventRecorder } from "../../kube/events.js";
import { isDeleting, objectKey } from "../../kube/objects.js";
import type { ObjectReader } from "../../kube/store.js";
import { parseTuning } from "./annotations.js";
import { decideTick, memoryFor, type AutoscalerMemory, type PodAutoscaler, type TickDecision } from "./decide.js";
import { desiredHpa, hpaName, type HorizontalPodAutoscaler } from "./hpa.js";
import { podStanding, type Pod } from "./pods.js";
import type { Scale } from "./scale-target.js";
import { nextTransition } from "./schedule.js";
import type { MetricReader } from "./sources/types.js";
import { buildStatus, sameStatus, type AutoscalerStatus, type ConditionState, type StatusInput } from "./status.js";
import { countsAsCapacity } from "./window.js";

export interface AutoscalerSettings {
  /** How often each PodAutoscaler is evaluated (upstream: 10 s). */
  tickMs: number;
  /** A pod Ready for less than this is warming up: neither scraped nor counted as capacity. */
  warmUpMs: number;
}

export const DEFAULT_AUTOSCALER_SETTINGS: AutoscalerSettings = { tickMs: 10_000, warmUpMs: 10_000 };

/** The cluster reads and writes the reconciler makes (kube-backed in index.ts, recorded in unit tests). */
export interface AutoscalerCluster {
  getScale(pa: PodAutoscaler): Promise<Scale>;
  setReplicas(pa: PodAutoscaler, replicas: number): Promise<void>;
  listPods(namespace: string, selector: string): Promise<Pod[]>;
  patchStatus(pa: PodAutoscaler, status: AutoscalerStatus): Promise<void>;
  ensureHpa(cached: HorizontalPodAutoscaler | undefined, want: HorizontalPodAutoscaler): Promise<void>;
}

export interface AutoscalerDeps {
  autoscalers: ObjectReader<PodAutoscaler>;
  hpas: ObjectReader<HorizontalPodAutoscaler>;
  cluster: AutoscalerCluster;
  metrics: MetricReader;
  recorder: EventRecorder;
  clock?(): number;
  settings?: Partial<AutoscalerSettings>;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
const targetOf = (pa: PodAutoscaler) => `${pa.spec.scaleTargetRef.kind}/${pa.spec.scaleTargetRef.name}`;

/** The PodAutoscaler that keeps a target several claim: the oldest, then the first by name. */
export function targetOwner(pa: PodAutoscaler, all: readonly PodAutoscaler[]): PodAutoscaler {
  const ref = pa.spec.scaleTargetRef;
  const claimants = all.filter(
    (o) =>
      !isDeleting(o) &&
      o.metadata?.namespace === pa.metadata?.namespace &&
      o.spec?.scaleTargetRef?.kind === ref.kind &&
      o.spec?.scaleTargetRef?.name === ref.name,
  );
  const created = (o: PodAutoscaler) => Date.parse(o.metadata?.creationTimestamp ?? "") || 0;
  claimants.sort((a, b) => created(a) - created(b) || (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  return claimants[0] ?? pa;
}

export class PodAutoscalerReconciler {
  private readonly settings: AutoscalerSettings;
  private readonly clock: () => number;
  private readonly memory = new Map<string, AutoscalerMemory>();
  /** When each PodAutoscaler last ticked, at which generation: its own status writes must not add ticks. */
  private readonly lastTick = new Map<string, { atMs: number; generation: number }>();
  /** uid and warnings already recorded as an Event. */
  private readonly warned = new Set<string>();

  constructor(private readonly deps: AutoscalerDeps) {
    this.settings = { ...DEFAULT_AUTOSCALER_SETTINGS, ...deps.settings };
    this.clock = deps.clock ?? Date.now;
  }

  /** Memory held for `key` (tests read it to show one PodAutoscaler's state never leaks into another's). */
  memoryOf(key: string): AutoscalerMemory | undefined {
    return this.memory.get(key);
  }

  reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const pa = this.deps.autoscalers.get(key);
    if (!pa || isDeleting(pa)) {
      this.memory.delete(key);
      this.lastTick.delete(key);
      return;
    }
    const now = this.clock();
    const generation = pa.metadata?.generation ?? 0;
    const last = this.lastTick.get(key);
    if (last && last.generation === generation && now - last.atMs < this.settings.tickMs) {
      return {
        requeueAfterMs: Math.min(
          last.atMs + this.settings.tickMs - now,
          this.requeueAfter(pa, now).requeueAfterMs ?? Infinity,
        ),
      };
    }
    this.lastTick.set(key, { atMs: now, generation });
    const problems = validate(pa);
    const parsed = parseTuning(pa.metadata?.annotations);
    const base = { previous: pa.status, now: new Date(now), generation: pa.metadata?.generation };
    if (problems.length > 0) {
      this.memory.delete(key);
      const message = problems.map(formatProblem).join("; ");
      await this.publish(pa, { ...base, validSpec: { status: "False", reason: "InvalidSpec", message } });
      return;
    }
    this.warnOnce(pa, parsed.warnings.map(formatProblem));
    const validSpec: ConditionState = { status: "True", reason: "AsExpected", message: "the spec is valid" };
    const owner = targetOwner(pa, this.deps.autoscalers.list());
    if (owner !== pa && objectKey(owner) !== key) {
      this.memory.delete(key);
      const conflict: ConditionState = {
        status: "False",
        reason: "ConflictingPodAutoscaler",
        message: `${targetOf(pa)} is already scaled by PodAutoscaler ${owner.metadata?.name}; this one does nothing`,
      };
      await this.publish(pa, { ...base, validSpec, conflict });
      return { requeueAfterMs: this.settings.tickMs };
    }
    if (pa.spec.scalingStrategy === "HPA") return await this.reconcileHpa(pa, base, validSpec, parsed.tuning);
    return await this.tick(key, pa, now, base, validSpec, parsed.tuning);
  };

  private warnOnce(pa: PodAutoscaler, warnings: string[]): void {
    const id = `${pa.metadata?.uid}\u0000${warnings.join("\u0000")}`;
    if (warnings.length === 0 || this.warned.has(id)) return;
    this.warned.add(id);
    if (this.warned.size > 10_000) this.warned.clear();
    this.deps.recorder.record(pa, "Warning", "DeprecatedAnnotation", "Configure", warnings.join("; "));
  }

  private async publish(pa: PodAutoscaler, input: StatusInput): Promise<void> {
    const status = buildStatus(input);
    if (!sameStatus(pa.status, status)) await this.deps.cluster.patchStatus(pa, status);
  }

  private async reconcileHpa(
    pa: PodAutoscaler,
    base: Pick<StatusInput, "previous" | "now" | "generation">,
    validSpec: ConditionState,
    tuning: ReturnType<typeof parseTuning>["tuning"],
  ): Promise<ReconcileResult> {
    const want = desiredHpa(pa, tuning);
    const cachedKey = `${pa.metadata?.namespace}/${hpaName(pa)}`;
    const cached = this.deps.hpas.get(cachedKey);
    let ableToScale: ConditionState = {
      status: "True",
      reason: "AsExpected",
      message: `HorizontalPodAutoscaler ${hpaName(pa)} scales ${targetOf(pa)}`,
    };
    try {
      await this.deps.cluster.ensureHpa(cached, want);
    } catch (err) {
      ableToScale = { status: "False", reason: "FailedUpdateHPA", message: errorText(err) };
    }
    await this.publish(pa, {
      ...base,
      validSpec,
      ableToScale,
      desired: cached?.status?.desiredReplicas,
      actual: cached?.status?.currentReplicas,
    });
    return { requeueAfterMs: this.settings.tickMs };
  }

  private async tick(
    key: string,
    pa: PodAutoscaler,
    now: number,
    base: Pick<StatusInput, "previous" | "now" | "generation">,
    validSpec: ConditionState,
    tuning: ReturnType<typeof parseTuning>["tuning"],
  ): Promise<ReconcileResult> {
    const requeue = this.requeueAfter(pa, now);
    let scale: Scale;
    try {
      scale = await this.deps.cluster.getScale(pa);
    } catch (err) {
      const ableToScale: ConditionState = { status: "False", reason: "FailedGetScale", message: errorText(err) };
      await this.publish(pa, { ...base, validSpec, ableToScale });
      return requeue;
    }
    const namespace = pa.metadata?.namespace ?? "";
    let pods: Pod[] = [];
    try {
      if (scale.selector) pods = await this.deps.cluster.listPods(namespace, scale.selector);
    } catch (err) {
      // Held, and told; the next tick tries again (an error here would back the key off for minutes).
      const scalingActive: ConditionState = { status: "False", reason: "FailedGetPods", message: errorText(err) };
      await this.publish(pa, { ...base, validSpec, scalingActive, actual: scale.replicas });
      return requeue;
    }
    const standings = pods.map((p) => podStanding(p, now, this.settings.warmUpMs));
    const counted = standings.filter(countsAsCapacity).map((s) => s.pod);
    const readings = await Promise.all(
      pa.spec.metricsSources.map((source) =>
        this.deps.metrics.read(source, { namespace, selector: scale.selector, pods: counted }),
      ),
    );
    const decision = decideTick({
      pa,
      tuning,
      nowMs: now,
      replicas: scale.replicas,
      pods: standings,
      readings,
      memory: memoryFor(pa, this.memory.get(key)),
    });
    this.memory.set(key, decision.memory);
    const scaled = decision.active ? await this.scale(pa, scale.replicas, decision) : undefined;
    const actual = scaled && !scaled.error ? scaled.to : scale.replicas;
    await this.publish(pa, {
      ...base,
      validSpec,
      ableToScale: scaled?.error
        ? { status: "False", reason: "FailedUpdateScale", message: scaled.error }
        : { status: "True", reason: "AsExpected", message: `${targetOf(pa)} has a scale subresource` },
      scalingActive: scalingActive(decision),
      desired: decision.active ? decision.desired : scale.replicas,
      actual,
      bounds: decision.bounds,
      scaled,
    });
    return requeue;
  }

  private async scale(pa: PodAutoscaler, from: number, decision: TickDecision) {
    const to = decision.desired;
    if (to === from) return undefined;
    const detail = decision.sources
      .filter((s) => s.value !== undefined)
      .map((s) => `${s.metric}=${round(s.value!)}`)
      .join(", ");
    const note = `New size: ${to} (was ${from}); reason: ${decision.reason}${detail ? ` (${detail})` : ""}`;
    try {
      await this.deps.cluster.setReplicas(pa, to);
      this.deps.recorder.record(pa, "Normal", "SuccessfulRescale", "Scale", note);
      return { from, to, reason: decision.reason };
    } catch (err) {
      const error = errorText(err);
      this.deps.recorder.record(pa, "Warning", "FailedRescale", "Scale", `${note}: ${error}`);
      return { from, to, reason: decision.reason, error };
    }
  }

  /** The next tick, or sooner when a schedule starts or ends before it. */
  private requeueAfter(pa: PodAutoscaler, now: number): ReconcileResult {
    const next = nextTransition(
      { min: pa.spec.minReplicas ?? 1, max: pa.spec.maxReplicas },
      pa.spec.schedules ?? [],
      now,
    );
    const untilSchedule = next === undefined ? Infinity : Math.max(100, next - now);
    return { requeueAfterMs: Math.min(this.settings.tickMs, untilSchedule) };
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

function scalingActive(decision: TickDecision): ConditionState {
  if (!decision.active)
    return { status: "False", reason: "ScalingDisabled", message: "the target has 0 replicas: scaling is paused" };
  const missing = decision.sources.filter((s) => s.desired === undefined);
  if (missing.length === decision.sources.length) {
    const why = missing.map((s) => s.problem ?? s.metric).join("; ");
    return { status: "False", reason: "FailedGetMetrics", message: `holding the replicas: ${why}` };
  }
  const panic = decision.panicking ? " (panic mode)" : "";
  return { status: "True", reason: "AsExpected", message: `metrics read; desired ${decision.desired}${panic}` };
}
