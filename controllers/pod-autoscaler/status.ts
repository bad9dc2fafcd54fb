// The PodAutoscaler's status as upstream shapes it: desiredScale, actualScale, lastScaleTime, conditions (ValidSpec,
// AbleToScale, ScalingActive, Ready, MultiPodAutoscalerConflict for the later of two PodAutoscalers on one target),
// scalingHistory (the newest 5, at least 5 s apart) and scheduledBounds. Pure: the reconciler patches what this
// returns when it differs from what the object has.
import type { PodAutoscaler as PodAutoscalerShape } from "../../api/kinds/pod-autoscaler.js";
import { setCondition, type Condition } from "../../kube/objects.js";
import type { ResolvedBounds } from "./schedule.js";

export type AutoscalerStatus = NonNullable<PodAutoscalerShape["status"]>;
type HistoryItem = NonNullable<AutoscalerStatus["scalingHistory"]>[number];

export const HISTORY_LIMIT = 5;
export const HISTORY_SPACING_MS = 5_000;

export const Conditions = {
  validSpec: "ValidSpec",
  ableToScale: "AbleToScale",
  scalingActive: "ScalingActive",
  ready: "Ready",
  conflict: "MultiPodAutoscalerConflict",
} as const;

export interface ConditionState {
  status: "True" | "False";
  reason: string;
  message: string;
}

export interface StatusInput {
  previous: AutoscalerStatus | undefined;
  now: Date;
  generation: number | undefined;
  validSpec: ConditionState;
  /** Set only for a PodAutoscaler that lost its target to an older one. */
  conflict?: ConditionState;
  ableToScale?: ConditionState;
  scalingActive?: ConditionState;
  desired?: number;
  actual?: number;
  bounds?: ResolvedBounds;
  /** A scale this tick made or tried. */
  scaled?: { from: number; to: number; reason: string; error?: string };
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/** Appends a record; one within the spacing of the newest replaces it (a flapping write does not flush history). */
export function appendHistory(history: readonly HistoryItem[], item: HistoryItem, nowMs: number): HistoryItem[] {
  const list = [...history];
  const last = list[list.length - 1];
  if (last && nowMs - Date.parse(last.timestamp) < HISTORY_SPACING_MS) list.pop();
  list.push(item);
  return list.slice(-HISTORY_LIMIT);
}

export function buildStatus(input: StatusInput): AutoscalerStatus {
  const { previous, now } = input;
  let conditions: Condition[] = [...((previous?.conditions ?? []) as Condition[])];
  const set = (type: string, c: ConditionState | undefined) => {
    if (!c) return;
    conditions = setCondition(conditions, { type, ...c, observedGeneration: input.generation }, now);
  };
  set(Conditions.validSpec, input.validSpec);
  if (input.conflict) set(Conditions.conflict, input.conflict);
  else conditions = conditions.filter((c) => c.type !== Conditions.conflict);
  set(Conditions.ableToScale, input.ableToScale);
  set(Conditions.scalingActive, input.scalingActive);
  if (input.desired !== undefined && input.actual !== undefined) {
    set(
      Conditions.ready,
      input.desired === input.actual
        ? { status: "True", reason: "AsExpected", message: `the target has the ${input.actual} replicas desired` }
        : {
            status: "False",
            reason: "ReconcilingScaleDiff",
            message: `the target has ${input.actual} replicas, ${input.desired} desired`,
          },
    );
  }
  const status: AutoscalerStatus = { ...previous, conditions };
  if (input.desired !== undefined) status.desiredScale = input.desired;
  if (input.actual !== undefined) status.actualScale = input.actual;
  if (input.bounds) {
    status.scheduledBounds = {
      ...(input.bounds.activeSchedule ? { activeSchedule: input.bounds.activeSchedule } : {}),
      effectiveMinReplicas: input.bounds.min,
      effectiveMaxReplicas: input.bounds.max,
    };
  }
  const s = input.scaled;
  if (s) {
    const item: HistoryItem = {
      timestamp: iso(now),
      previousScale: s.from,
      newScale: s.to,
      reason: s.reason,
      success: s.error === undefined,
      ...(s.error !== undefined ? { error: s.error.slice(0, 1024) } : {}),
    };
    status.scalingHistory = appendHistory(previous?.scalingHistory ?? [], item, now.getTime());
    if (s.error === undefined) status.lastScaleTime = iso(now);
  }
  return status;
}

/** Status equality that ignores key order (what the API server echoes back is reordered). */
export function sameStatus(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .filter(([, x]) => x !== undefined)
              .sort(([x], [y]) => x.localeCompare(y))
              .map(([k, x]) => [k, canon(x)]),
          )
        : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}
