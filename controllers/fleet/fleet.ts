// The RayClusterFleet reconciler: one RayClusterReplicaSet per template revision, sized step by step by the rollout
// planner (RollingUpdate or Recreate), proportional scaling mid-rollout, pause, rollback, old revisions pruned to
// revisionHistoryLimit, and a Deployment-shaped status. One write per pass: each write's echo starts the next pass.
import { Orchestration } from "../../api/labels.js";
import type { ReconcileResult } from "../../kube/controller.js";
import type { EventRecorder } from "../../kube/events.js";
import { controllerReference, isDeleting } from "../../kube/objects.js";
import type { ObjectReader } from "../../kube/store.js";
import { calculateStatus, markProgressing, pauseConditions, Reason, rolloutConditions } from "./fleet-status.js";
import {
  CONTROLLER_UID_INDEX,
  type DeploymentCondition,
  type FleetObject,
  type RayCluster,
  type ReplicaSetObject,
} from "./objects.js";
import {
  canonicalJson,
  revisionAnnotations,
  revisionOf,
  sameTemplate,
  templateHash,
  withoutHashLabel,
  type ClusterTemplate,
} from "./revision.js";
import {
  newReplicaSetTarget,
  oldReplicaSetTargets,
  proportionalTargets,
  recreateTargets,
  rollingParams,
  type ReplicaSetCounts,
  type RollingParams,
} from "./rollout.js";

type FleetStatus = NonNullable<FleetObject["status"]>;

/** The annotation `kubectl rollout undo` set on extensions/v1beta1 objects: roll back to this revision (0: last). */
export const ROLLBACK_ANNOTATION = "deprecated.deployment.rollback.to";

export interface FleetWriter {
  createReplicaSet(rs: ReplicaSetObject): Promise<ReplicaSetObject>;
  /** The live replica set of that name (after a create found one). */
  getReplicaSet(namespace: string, name: string): Promise<ReplicaSetObject>;
  /** Replaces spec and metadata over the version given. */
  updateReplicaSet(rs: ReplicaSetObject): Promise<void>;
  deleteReplicaSet(namespace: string, name: string): Promise<void>;
  updateFleet(fleet: FleetObject): Promise<void>;
  /** Merges these annotations into the fleet's. */
  annotateFleet(fleet: FleetObject, annotations: Record<string, string>): Promise<void>;
  patchStatus(fleet: FleetObject, status: FleetStatus): Promise<void>;
}

export interface FleetDeps {
  fleets: ObjectReader<FleetObject>;
  /** Indexed by CONTROLLER_UID_INDEX. */
  replicaSets: ObjectReader<ReplicaSetObject>;
  /** Indexed by CONTROLLER_UID_INDEX (Recreate waits for old clusters to be gone). */
  clusters: ObjectReader<RayCluster>;
  writer: FleetWriter;
  recorder: EventRecorder;
  clock?(): number;
}

const counts = (rs: ReplicaSetObject): ReplicaSetCounts => ({
  name: rs.metadata?.name ?? "",
  replicas: rs.spec.replicas ?? 1,
  available: rs.status?.availableReplicas ?? 0,
});

interface Plan {
  fleet: FleetObject;
  replicas: number;
  params: RollingParams;
  newSet?: ReplicaSetObject;
  oldSets: ReplicaSetObject[];
  conditions: DeploymentCondition[];
  now: number;
}

export class FleetReconciler {
  private readonly clock: () => number;

  constructor(private readonly deps: FleetDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const fleet = this.deps.fleets.get(key);
    if (!fleet || isDeleting(fleet)) return;
    if (fleet.metadata?.annotations?.[ROLLBACK_ANNOTATION] !== undefined) return await this.rollback(fleet);
    const now = this.clock();
    const owned = this.deps.replicaSets
      .byIndex(CONTROLLER_UID_INDEX, fleet.metadata?.uid ?? "")
      .filter((rs) => !isDeleting(rs))
      .sort(byCreation);
    const replicas = fleet.spec.replicas ?? 1;
    const recreate = fleet.spec.strategy?.type === "Recreate";
    const params = recreate
      ? { maxSurge: 0, maxUnavailable: 0 }
      : rollingParams(replicas, fleet.spec.strategy?.rollingUpdate);
    // By the hash label first: a mutating webhook may have added to the replica set's copy of the template.
    const hash = templateHash(fleet.spec.template, fleet.status?.collisionCount ?? 0);
    const newSet =
      owned.find((rs) => rs.metadata?.labels?.[Orchestration.podTemplateHash] === hash) ??
      owned.find((rs) => sameTemplate(rs.spec.template as ClusterTemplate, fleet.spec.template));
    const plan: Plan = {
      fleet,
      replicas,
      params,
      newSet,
      oldSets: owned.filter((rs) => rs !== newSet),
      conditions: pauseConditions(fleet, (fleet.status?.conditions ?? []) as DeploymentCondition[], now),
      now,
    };
    if (fleet.spec.paused || this.isScalingEvent(plan)) {
      if (await this.scale(plan)) return await this.writeStatus(plan, owned);
      if (fleet.spec.paused) await this.pruneHistory(plan);
      return await this.writeStatus(plan, owned);
    }
    if (!(await this.ensureNewSet(plan))) return await this.writeStatus(plan, owned);
    // The fleet carries its current revision too, as a Deployment does.
    const revision = plan.newSet!.metadata?.annotations?.[Orchestration.revision];
    if (revision && fleet.metadata?.annotations?.[Orchestration.revision] !== revision) {
      await this.deps.writer.annotateFleet(fleet, { [Orchestration.revision]: revision });
    }
    const wrote = recreate ? await this.recreate(plan) : await this.rolling(plan);
    if (!wrote && plan.oldSets.every((rs) => (rs.spec.replicas ?? 1) === 0)) await this.pruneHistory(plan);
    return await this.writeStatus(plan, [...plan.oldSets, plan.newSet!]);
  };

  /** Replicas changed under a replica set that was sized for another count (its desired-replicas annotation). */
  private isScalingEvent(plan: Plan): boolean {
    const active = [plan.newSet, ...plan.oldSets].filter((rs) => rs && (rs.spec.replicas ?? 1) > 0);
    return active.some((rs) => {
      const sizedFor = rs!.metadata?.annotations?.[Orchestration.desiredReplicas];
      return sizedFor !== undefined && sizedFor !== String(plan.replicas);
    });
  }

  /** The Deployment controller's sync(): size without rolling (paused fleets, replica changes). */
  private async scale(plan: Plan): Promise<boolean> {
    const all = [...(plan.newSet ? [plan.newSet] : []), ...plan.oldSets];
    const active = all.filter((rs) => (rs.spec.replicas ?? 1) > 0);
    const only = active.length === 1 ? active[0] : active.length === 0 ? (plan.newSet ?? all.at(-1)) : undefined;
    if (only) return await this.resize(plan, only, plan.replicas);
    if (
      plan.newSet &&
      (plan.newSet.spec.replicas ?? 1) === plan.replicas &&
      (plan.newSet.status?.availableReplicas ?? 0) >= plan.replicas
    ) {
      let wrote = false;
      for (const rs of plan.oldSets) wrote = (await this.resize(plan, rs, 0)) || wrote;
      return wrote;
    }
    if (plan.fleet.spec.strategy?.type === "Recreate") return false;
    const targets = proportionalTargets(
      plan.replicas,
      plan.params,
      active.map((rs) => ({
        ...counts(rs),
        annotatedMaxReplicas: Number(rs.metadata?.annotations?.[Orchestration.maxReplicas]) || undefined,
        createdAt: rs.metadata?.creationTimestamp ?? "",
      })),
      plan.fleet.status?.replicas ?? 0,
    );
    let wrote = false;
    for (const rs of active) wrote = (await this.resize(plan, rs, targets.get(rs.metadata?.name ?? "")!)) || wrote;
    return wrote;
  }

  private async rolling(plan: Plan): Promise<boolean> {
    const newCounts = counts(plan.newSet!);
    const oldCounts = plan.oldSets.map(counts);
    const target = newReplicaSetTarget(plan.replicas, plan.params, newCounts, oldCounts);
    if (await this.resize(plan, plan.newSet!, target)) return true;
    const oldTargets = oldReplicaSetTargets(plan.replicas, plan.params, newCounts, oldCounts);
    let wrote = false;
    for (const rs of plan.oldSets) {
      wrote = (await this.resize(plan, rs, oldTargets.get(rs.metadata?.name ?? "")!)) || wrote;
    }
    return wrote;
  }

  private async recreate(plan: Plan): Promise<boolean> {
    const oldClusters = plan.oldSets.reduce(
      (n, rs) => n + this.deps.clusters.byIndex(CONTROLLER_UID_INDEX, rs.metadata?.uid ?? "").length,
      0,
    );
    const { newReplicas, old } = recreateTargets(
      plan.replicas,
      counts(plan.newSet!),
      plan.oldSets.map(counts),
      oldClusters,
    );
    let wrote = false;
    for (const rs of plan.oldSets) wrote = (await this.resize(plan, rs, old.get(rs.metadata?.name ?? "")!)) || wrote;
    if (wrote) return true;
    return await this.resize(plan, plan.newSet!, newReplicas);
  }

  /**
   * Finds or creates the replica set of the current template, with the next revision number. Returns false when
   * it had to write (create, revision bump) or could not (a name collision), so this pass ends with the status.
   */
  private async ensureNewSet(plan: Plan): Promise<boolean> {
    const { fleet } = plan;
    const maxOld = Math.max(0, ...plan.oldSets.map((rs) => revisionOf(rs.metadata?.annotations)));
    const namespace = fleet.metadata?.namespace ?? "";
    if (plan.newSet) {
      if (revisionOf(plan.newSet.metadata?.annotations) > maxOld) return true;
      // An earlier revision's template came back (a rollback): that replica set becomes the newest revision.
      const updated = structuredClone(plan.newSet);
      updated.metadata = {
        ...updated.metadata,
        annotations: revisionAnnotations(updated.metadata?.annotations, maxOld + 1),
      };
      await this.deps.writer.updateReplicaSet(updated);
      plan.conditions = markProgressing(
        plan.conditions,
        Reason.foundNewReplicaSet,
        `Found new RayClusterReplicaSet "${updated.metadata?.name}"`,
        plan.now,
      );
      return false;
    }
    const collisionCount = fleet.status?.collisionCount ?? 0;
    const hash = templateHash(fleet.spec.template, collisionCount);
    const name = `${fleet.metadata?.name}-${hash}`;
    const initial =
      fleet.spec.strategy?.type === "Recreate"
        ? 0
        : newReplicaSetTarget(
            plan.replicas,
            plan.params,
            { name, replicas: 0, available: 0 },
            plan.oldSets.map(counts),
          );
    const want = this.replicaSetFor(plan, name, hash, initial, maxOld + 1);
    try {
      plan.newSet = await this.deps.writer.createReplicaSet(want);
    } catch (err) {
      if ((err as { status?: number }).status !== 409) throw err;
      const live = await this.deps.writer.getReplicaSet(namespace, name);
      const ours = live.metadata?.ownerReferences?.some((r) => r.controller && r.uid === fleet.metadata?.uid);
      if (ours && sameTemplate(live.spec.template as ClusterTemplate, fleet.spec.template)) return false;
      // Same name, another template: hash again with the next collision count.
      await this.deps.writer.patchStatus(fleet, { collisionCount: collisionCount + 1 });
      throw new Error(
        `RayClusterReplicaSet ${namespace}/${name} exists with another template; retrying with a new name`,
        { cause: err },
      );
    }
    this.deps.recorder.record(
      fleet,
      "Normal",
      "ScalingReplicaSet",
      "Create",
      `Created RayClusterReplicaSet ${name} with ${initial} replica(s)`,
    );
    plan.conditions = markProgressing(
      plan.conditions,
      Reason.newReplicaSetCreated,
      `Created new RayClusterReplicaSet "${name}"`,
      plan.now,
    );
    return false;
  }

  private replicaSetFor(plan: Plan, name: string, hash: string, replicas: number, revision: number): ReplicaSetObject {
    const { fleet } = plan;
    const template = structuredClone(withoutHashLabel(fleet.spec.template)) as ClusterTemplate;
    template.metadata = {
      ...template.metadata,
      labels: { ...template.metadata?.labels, [Orchestration.podTemplateHash]: hash },
    };
    const selector = structuredClone(fleet.spec.selector);
    selector.matchLabels = { ...selector.matchLabels, [Orchestration.podTemplateHash]: hash };
    return {
      apiVersion: "orchestration.aibrix.ai/v1alpha1",
      kind: "RayClusterReplicaSet",
      metadata: {
        name,
        namespace: fleet.metadata?.namespace,
        labels: {
          ...template.metadata.labels,
          [Orchestration.rayClusterFleetName]: fleet.metadata?.name ?? "",
        },
        annotations: {
          [Orchestration.revision]: String(revision),
          ...this.sizeAnnotations(plan),
        },
        ownerReferences: [controllerReference(fleet)],
      },
      spec: { replicas, minReadySeconds: fleet.spec.minReadySeconds ?? 0, selector, template },
    };
  }

  private sizeAnnotations(plan: Plan): Record<string, string> {
    return {
      [Orchestration.desiredReplicas]: String(plan.replicas),
      [Orchestration.maxReplicas]: String(plan.replicas + plan.params.maxSurge),
    };
  }

  /** Sets a replica set's size (and the fleet size it was sized for); false when nothing had to change. */
  private async resize(plan: Plan, rs: ReplicaSetObject, replicas: number): Promise<boolean> {
    const annotations = { ...rs.metadata?.annotations, ...this.sizeAnnotations(plan) };
    const minReady = plan.fleet.spec.minReadySeconds ?? 0;
    const before = rs.spec.replicas ?? 1;
    if (
      before === replicas &&
      (rs.spec.minReadySeconds ?? 0) === minReady &&
      canonicalJson(annotations) === canonicalJson(rs.metadata?.annotations ?? {})
    ) {
      return false;
    }
    const updated = structuredClone(rs);
    updated.metadata = { ...updated.metadata, annotations };
    updated.spec = { ...updated.spec, replicas, minReadySeconds: minReady };
    await this.deps.writer.updateReplicaSet(updated);
    if (before !== replicas) {
      const verb = replicas > before ? "up" : "down";
      this.deps.recorder.record(
        plan.fleet,
        "Normal",
        "ScalingReplicaSet",
        "Scale",
        `Scaled ${verb} RayClusterReplicaSet ${rs.metadata?.name} from ${before} to ${replicas}`,
      );
    }
    return true;
  }

  /** Deletes the oldest empty old replica sets beyond revisionHistoryLimit. */
  private async pruneHistory(plan: Plan): Promise<void> {
    const limit = plan.fleet.spec.revisionHistoryLimit ?? 10;
    const empty = plan.oldSets
      .filter(
        (rs) =>
          (rs.spec.replicas ?? 1) === 0 &&
          (rs.status?.replicas ?? 0) === 0 &&
          (rs.status?.observedGeneration ?? 0) >= (rs.metadata?.generation ?? 0),
      )
      .sort((a, b) => revisionOf(a.metadata?.annotations) - revisionOf(b.metadata?.annotations) || byCreation(a, b));
    for (const rs of empty.slice(0, Math.max(0, empty.length - limit))) {
      await this.deps.writer.deleteReplicaSet(rs.metadata?.namespace ?? "", rs.metadata?.name ?? "");
    }
  }

  private async writeStatus(plan: Plan, sets: ReplicaSetObject[]): Promise<ReconcileResult | void> {
    const { fleet, now } = plan;
    const base = calculateStatus(
      { ...fleet, status: { ...fleet.status, conditions: plan.conditions } },
      sets,
      plan.newSet,
      plan.params.maxUnavailable,
      now,
    );
    const failure = sets
      .flatMap((rs) => (rs.status?.conditions ?? []) as DeploymentCondition[])
      .find((c) => c.type === "ReplicaFailure" && c.status === "True");
    const { status, recheckAfterMs } = fleet.spec.paused
      ? { status: base, recheckAfterMs: undefined }
      : rolloutConditions(fleet, base, plan.newSet, failure, now);
    if (canonicalJson(status) !== canonicalJson(fleet.status ?? {})) await this.deps.writer.patchStatus(fleet, status);
    if (recheckAfterMs !== undefined) return { requeueAfterMs: recheckAfterMs };
  }

  /** Rolls the template back to an earlier revision's (revision 0: the one before the current), as `rollout undo`. */
  private async rollback(fleet: FleetObject): Promise<void> {
    const owned = this.deps.replicaSets.byIndex(CONTROLLER_UID_INDEX, fleet.metadata?.uid ?? "");
    const annotations = { ...fleet.metadata?.annotations };
    const asked = Number(annotations[ROLLBACK_ANNOTATION]) || 0;
    delete annotations[ROLLBACK_ANNOTATION];
    const revisions = owned.map((rs) => revisionOf(rs.metadata?.annotations)).sort((a, b) => b - a);
    const revision = asked > 0 ? asked : (revisions[1] ?? 0);
    const source = owned.find((rs) => revision > 0 && revisionOf(rs.metadata?.annotations) === revision);
    const updated = structuredClone({ ...fleet, metadata: { ...fleet.metadata, annotations } });
    if (!source) {
      this.deps.recorder.record(
        fleet,
        "Warning",
        "RollbackRevisionNotFound",
        "Rollback",
        `Unable to find revision ${asked || "(previous)"} to roll back to`,
      );
    } else if (sameTemplate(source.spec.template as ClusterTemplate, fleet.spec.template)) {
      this.deps.recorder.record(
        fleet,
        "Warning",
        "RollbackTemplateUnchanged",
        "Rollback",
        `The rollback revision ${revision} has the current template`,
      );
    } else {
      updated.spec.template = withoutHashLabel(
        source.spec.template as ClusterTemplate,
      ) as FleetObject["spec"]["template"];
      this.deps.recorder.record(
        fleet,
        "Normal",
        "DeploymentRollback",
        "Rollback",
        `Rolled back to revision ${revision}`,
      );
    }
    await this.deps.writer.updateFleet(updated);
  }
}

function byCreation(a: ReplicaSetObject, b: ReplicaSetObject): number {
  return (
    (a.metadata?.creationTimestamp ?? "").localeCompare(b.metadata?.creationTimestamp ?? "") ||
    (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? "")
  );
}

export type { FleetStatus };
