// A fleet's status from its replica sets, and its Available / Progressing / ReplicaFailure conditions with the
// Deployment controller's reasons, so `kubectl rollout status`-style tooling reads a fleet as it reads a Deployment.
import {
  selectorString,
  setDeploymentCondition,
  removeCondition,
  apiTime,
  type DeploymentCondition,
} from "./objects.js";
import type { FleetObject, ReplicaSetObject } from "./objects.js";

type FleetStatus = NonNullable<FleetObject["status"]>;

export const Reason = {
  minimumAvailable: "MinimumReplicasAvailable",
  minimumUnavailable: "MinimumReplicasUnavailable",
  newReplicaSetCreated: "NewReplicaSetCreated",
  foundNewReplicaSet: "FoundNewReplicaSet",
  replicaSetUpdated: "ReplicaSetUpdated",
  newReplicaSetAvailable: "NewReplicaSetAvailable",
  progressDeadlineExceeded: "ProgressDeadlineExceeded",
  paused: "DeploymentPaused",
  resumed: "DeploymentResumed",
} as const;

const PROGRESSING = "Progressing";

const asked = (sets: readonly ReplicaSetObject[]) => sets.reduce((n, s) => n + (s.spec.replicas ?? 1), 0);
const observed = (sets: readonly ReplicaSetObject[], f: (s: NonNullable<ReplicaSetObject["status"]>) => number) =>
  sets.reduce((n, s) => n + (s.status ? f(s.status) : 0), 0);

/** The counts (calculateStatus) and the Available condition, conditions otherwise carried over. */
export function calculateStatus(
  fleet: FleetObject,
  all: readonly ReplicaSetObject[],
  newSet: ReplicaSetObject | undefined,
  maxUnavailable: number,
  now: number,
): FleetStatus {
  const replicas = fleet.spec.replicas ?? 1;
  const available = observed(all, (s) => s.availableReplicas ?? 0);
  const status: FleetStatus = {
    observedGeneration: fleet.metadata?.generation,
    replicas: observed(all, (s) => s.replicas),
    updatedReplicas: newSet ? observed([newSet], (s) => s.replicas) : 0,
    readyReplicas: observed(all, (s) => s.readyReplicas ?? 0),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, asked(all) - available),
    scalingTargetSelector: selectorString(fleet.spec.selector),
    conditions: (fleet.status?.conditions ?? []) as DeploymentCondition[],
  };
  if (fleet.status?.collisionCount !== undefined) status.collisionCount = fleet.status.collisionCount;
  const ok = available >= replicas - maxUnavailable;
  status.conditions = setDeploymentCondition(
    status.conditions as DeploymentCondition[],
    ok
      ? {
          type: "Available",
          status: "True",
          reason: Reason.minimumAvailable,
          message: "Fleet has minimum availability.",
        }
      : {
          type: "Available",
          status: "False",
          reason: Reason.minimumUnavailable,
          message: "Fleet does not have minimum availability.",
        },
    apiTime(now),
  );
  return status;
}

const progressing = (status: FleetStatus | undefined) =>
  (status?.conditions as DeploymentCondition[] | undefined)?.find((c) => c.type === PROGRESSING);

/** Every replica is updated and available, and this generation has been seen. */
export function isComplete(fleet: FleetObject, status: FleetStatus): boolean {
  const replicas = fleet.spec.replicas ?? 1;
  return (
    status.updatedReplicas === replicas &&
    status.replicas === replicas &&
    status.availableReplicas === replicas &&
    (status.observedGeneration ?? 0) >= (fleet.metadata?.generation ?? 0)
  );
}

/** More clusters updated, ready or available than the last status said, or fewer old ones. */
function madeProgress(previous: FleetStatus | undefined, next: FleetStatus): boolean {
  const p = previous ?? {};
  const oldBefore = (p.replicas ?? 0) - (p.updatedReplicas ?? 0);
  const oldNow = (next.replicas ?? 0) - (next.updatedReplicas ?? 0);
  return (
    (next.updatedReplicas ?? 0) > (p.updatedReplicas ?? 0) ||
    oldNow < oldBefore ||
    (next.readyReplicas ?? 0) > (p.readyReplicas ?? 0) ||
    (next.availableReplicas ?? 0) > (p.availableReplicas ?? 0)
  );
}

/**
 * The Progressing condition of a rollout: complete, progressing (lastUpdateTime moves), or past
 * progressDeadlineSeconds since the last progress. Returns the status and when to look again for the deadline.
 */
export function rolloutConditions(
  fleet: FleetObject,
  status: FleetStatus,
  newSet: ReplicaSetObject | undefined,
  replicaFailure: DeploymentCondition | undefined,
  now: number,
): { status: FleetStatus; recheckAfterMs?: number } {
  const deadlineMs = (fleet.spec.progressDeadlineSeconds ?? 600) * 1000;
  const name = newSet?.metadata?.name ?? "";
  const at = apiTime(now);
  let conditions = status.conditions as DeploymentCondition[];
  const current = progressing(status);
  const alreadyComplete =
    status.replicas === status.updatedReplicas && current?.reason === Reason.newReplicaSetAvailable;
  if (!alreadyComplete) {
    if (isComplete(fleet, status)) {
      conditions = setDeploymentCondition(
        conditions,
        {
          type: PROGRESSING,
          status: "True",
          reason: Reason.newReplicaSetAvailable,
          message: `RayClusterReplicaSet "${name}" has successfully progressed.`,
        },
        at,
      );
    } else if (madeProgress(fleet.status, status)) {
      conditions = setDeploymentCondition(
        conditions,
        {
          type: PROGRESSING,
          status: "True",
          reason: Reason.replicaSetUpdated,
          message: `RayClusterReplicaSet "${name}" is progressing.`,
        },
        at,
        true,
      );
    } else if (current && timedOut(current, deadlineMs, now)) {
      conditions = setDeploymentCondition(
        conditions,
        {
          type: PROGRESSING,
          status: "False",
          reason: Reason.progressDeadlineExceeded,
          message: `RayClusterReplicaSet "${name}" has timed out progressing.`,
        },
        at,
      );
    }
  }
  conditions = replicaFailure
    ? setDeploymentCondition(conditions, { ...replicaFailure, type: "ReplicaFailure" }, at)
    : removeCondition(conditions, "ReplicaFailure");
  const next = { ...status, conditions };
  const cond = progressing(next);
  let recheckAfterMs: number | undefined;
  if (cond?.status === "True" && cond.reason !== Reason.newReplicaSetAvailable && cond.lastUpdateTime) {
    recheckAfterMs = Math.max(0, Date.parse(cond.lastUpdateTime) + deadlineMs - now) + 1000;
  }
  return { status: next, recheckAfterMs };
}

function timedOut(cond: DeploymentCondition, deadlineMs: number, now: number): boolean {
  if (cond.reason === Reason.progressDeadlineExceeded) return true;
  if (cond.reason === Reason.newReplicaSetAvailable) return false;
  const from = Date.parse(cond.lastUpdateTime ?? cond.lastTransitionTime ?? "");
  return Number.isFinite(from) && from + deadlineMs < now;
}

/** Paused: Progressing Unknown/DeploymentPaused; resumed: Unknown/DeploymentResumed. A timeout stays as it is. */
export function pauseConditions(
  fleet: FleetObject,
  conditions: DeploymentCondition[],
  now: number,
): DeploymentCondition[] {
  const cond = conditions.find((c) => c.type === PROGRESSING);
  if (cond?.reason === Reason.progressDeadlineExceeded) return conditions;
  const pausedNoted = cond?.reason === Reason.paused;
  if (fleet.spec.paused && !pausedNoted) {
    return setDeploymentCondition(
      conditions,
      { type: PROGRESSING, status: "Unknown", reason: Reason.paused, message: "Fleet is paused" },
      apiTime(now),
    );
  }
  if (!fleet.spec.paused && pausedNoted) {
    return setDeploymentCondition(
      conditions,
      { type: PROGRESSING, status: "Unknown", reason: Reason.resumed, message: "Fleet is resumed" },
      apiTime(now),
    );
  }
  return conditions;
}

/** Progressing True with `reason` (a new replica set was created or found): the deadline clock starts again. */
export function markProgressing(conditions: DeploymentCondition[], reason: string, message: string, now: number) {
  return setDeploymentCondition(conditions, { type: PROGRESSING, status: "True", reason, message }, apiTime(now), true);
}
