// The RayClusterReplicaSet reconciler: keep spec.replicas RayClusters of the template alive. Clusters KubeRay gave
// up on, or whose head has stayed down past a grace period, are deleted and replaced; status counts ready and
// available clusters.
// Creates and deletes this process made but the cache has not shown yet are remembered, so a reconcile that runs
// before the watch catches up neither creates twice nor deletes twice.
import { Orchestration } from "../../api/labels.js";
import { selectorMatches } from "../../api/semantics.js";
import type { ReconcileResult } from "../../kube/controller.js";
import type { EventRecorder } from "../../kube/events.js";
import { controllerReference, isDeleting, objectKey } from "../../kube/objects.js";
import type { ObjectReader } from "../../kube/store.js";
import {
  apiTime,
  CONTROLLER_UID_INDEX,
  HEAD_LOSS_GRACE_MS,
  headLostSince,
  isFailed,
  isReady,
  readySince,
  removeCondition,
  setDeploymentCondition,
  type RayCluster,
  type ReplicaSetObject,
} from "./objects.js";
import { canonicalJson } from "./revision.js";

type Status = NonNullable<ReplicaSetObject["status"]>;

export interface ReplicaSetWriter {
  /** Creates a RayCluster; resolves with the name the API server gave it. */
  createCluster(namespace: string, cluster: RayCluster): Promise<string>;
  deleteCluster(namespace: string, name: string): Promise<void>;
  patchStatus(rs: ReplicaSetObject, status: Status): Promise<void>;
}

export interface ReplicaSetDeps {
  replicaSets: ObjectReader<ReplicaSetObject>;
  /** Indexed by CONTROLLER_UID_INDEX. */
  clusters: ObjectReader<RayCluster>;
  writer: ReplicaSetWriter;
  recorder: EventRecorder;
  clock?(): number;
  /** Creates at once per reconcile (default 50). */
  createBurst?: number;
}

/** How long an unobserved create or delete is trusted before the cache is believed instead (client-go's 5 min). */
const EXPECTATION_TTL_MS = 5 * 60_000;

interface Expectations {
  creates: Map<string, number>;
  deletes: Map<string, number>;
}

/**
 * Scale-down victims first: not ready, then lower controller.kubernetes.io/pod-deletion-cost, then older, then
 * by name (upstream's order).
 */
export function deletionOrder(a: RayCluster, b: RayCluster): number {
  const ready = Number(isReady(a)) - Number(isReady(b));
  if (ready !== 0) return ready;
  const cost = (c: RayCluster) => Number(c.metadata?.annotations?.[Orchestration.podDeletionCost] ?? 0) || 0;
  const byCost = cost(a) - cost(b);
  if (byCost !== 0) return byCost;
  const created = (a.metadata?.creationTimestamp ?? "").localeCompare(b.metadata?.creationTimestamp ?? "");
  return created !== 0 ? created : (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? "");
}

/** The RayCluster a replica set creates: its template, a generated name, the replica set as controller. */
export function clusterFor(rs: ReplicaSetObject): RayCluster {
  const meta = (rs.spec.template?.metadata ?? {}) as {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  return {
    apiVersion: "ray.io/v1",
    kind: "RayCluster",
    metadata: {
      generateName: `${rs.metadata?.name ?? ""}-`,
      namespace: rs.metadata?.namespace,
      labels: { ...meta.labels },
      annotations: { ...meta.annotations },
      ownerReferences: [controllerReference(rs)],
    },
    spec: structuredClone(rs.spec.template?.spec ?? {}),
  };
}

export class ReplicaSetReconciler {
  private readonly clock: () => number;
  private readonly expectations = new Map<string, Expectations>();

  constructor(private readonly deps: ReplicaSetDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const rs = this.deps.replicaSets.get(key);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    // The garbage collector removes the clusters of a deleted replica set.
    if (isDeleting(rs)) return;
    const now = this.clock();
    const owned = this.deps.clusters.byIndex(CONTROLLER_UID_INDEX, rs.metadata?.uid ?? "");
    const pending = this.pendingFor(key, owned, now);
    const live = owned.filter((c) => !isDeleting(c) && !pending.deletes.has(c.metadata?.name ?? ""));
    const active = live.filter((c) => !isFailed(c, now));
    const failure = await this.converge(rs, pending, live, active, now);
    return await this.writeStatus(rs, active, failure, now, headLossDeadline(active));
  };

  /** Replaces failed clusters and creates or deletes to reach spec.replicas; the first failure, if any. */
  private async converge(
    rs: ReplicaSetObject,
    pending: Expectations,
    live: RayCluster[],
    active: RayCluster[],
    now: number,
  ): Promise<{ reason: string; message: string } | undefined> {
    const failures: ({ reason: string; message: string } | undefined)[] = [];
    for (const cluster of live.filter((c) => isFailed(c, now))) {
      const name = cluster.metadata?.name ?? "";
      this.deps.recorder.record(
        rs,
        "Warning",
        "ClusterFailed",
        "Replace",
        `RayCluster ${name} is no longer ready; replacing it`,
      );
      failures.push(await this.remove(rs, pending, name, now));
    }
    const want = rs.spec.replicas ?? 1;
    const counted = active.length + pending.creates.size;
    if (counted < want) failures.push(await this.create(rs, pending, want - counted, now));
    else if (counted > want) {
      // Unobserved creates cannot be chosen as victims; the cache will show them and the next pass trims.
      const victims = [...active].sort(deletionOrder).slice(0, Math.min(active.length, counted - want));
      for (const victim of victims) failures.push(await this.remove(rs, pending, victim.metadata?.name ?? "", now));
    }
    return failures.find((f) => f !== undefined);
  }

  /** This replica set's unobserved creates and deletes, with those the cache now shows (or that expired) dropped. */
  private pendingFor(key: string, owned: RayCluster[], now: number): Expectations {
    let pending = this.expectations.get(key);
    if (!pending) this.expectations.set(key, (pending = { creates: new Map(), deletes: new Map() }));
    const byName = new Map(owned.map((c) => [c.metadata?.name ?? "", c]));
    for (const [name, expires] of pending.creates) if (byName.has(name) || expires < now) pending.creates.delete(name);
    for (const [name, expires] of pending.deletes) {
      const c = byName.get(name);
      if (!c || isDeleting(c) || expires < now) pending.deletes.delete(name);
    }
    return pending;
  }

  private async create(
    rs: ReplicaSetObject,
    pending: Expectations,
    count: number,
    now: number,
  ): Promise<{ reason: string; message: string } | undefined> {
    const n = Math.min(count, this.deps.createBurst ?? 50);
    const namespace = rs.metadata?.namespace ?? "";
    const results = await Promise.allSettled(
      Array.from({ length: n }, () => this.deps.writer.createCluster(namespace, clusterFor(rs))),
    );
    let failure: { reason: string; message: string } | undefined;
    for (const r of results) {
      if (r.status === "fulfilled") pending.creates.set(r.value, now + EXPECTATION_TTL_MS);
      else failure ??= { reason: "FailedCreate", message: (r.reason as Error).message };
    }
    const created = results.filter((r) => r.status === "fulfilled").length;
    if (created > 0)
      this.deps.recorder.record(rs, "Normal", "SuccessfulCreate", "Create", `Created ${created} RayCluster(s)`);
    if (failure) this.deps.recorder.record(rs, "Warning", failure.reason, "Create", failure.message);
    return failure;
  }

  private async remove(
    rs: ReplicaSetObject,
    pending: Expectations,
    name: string,
    now: number,
  ): Promise<{ reason: string; message: string } | undefined> {
    try {
      await this.deps.writer.deleteCluster(rs.metadata?.namespace ?? "", name);
      pending.deletes.set(name, now + EXPECTATION_TTL_MS);
      this.deps.recorder.record(rs, "Normal", "SuccessfulDelete", "Delete", `Deleted RayCluster ${name}`);
      return undefined;
    } catch (err) {
      const message = `deleting RayCluster ${name}: ${(err as Error).message}`;
      this.deps.recorder.record(rs, "Warning", "FailedDelete", "Delete", message);
      return { reason: "FailedDelete", message };
    }
  }

  private async writeStatus(
    rs: ReplicaSetObject,
    active: RayCluster[],
    failure: { reason: string; message: string } | undefined,
    now: number,
    recheckAt: number,
  ): Promise<ReconcileResult | void> {
    const minReadyMs = (rs.spec.minReadySeconds ?? 0) * 1000;
    const ready = active.filter(isReady);
    let nextLookAt = recheckAt;
    const available = ready.filter((c) => {
      const at = (readySince(c) ?? now) + minReadyMs;
      if (at > now) nextLookAt = Math.min(nextLookAt, at);
      return at <= now;
    });
    const labels = (rs.spec.template?.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
    const fullyLabeled = active.filter((c) => selectorMatches({ matchLabels: labels }, c.metadata?.labels ?? {}));
    const conditions = failure
      ? setDeploymentCondition(
          rs.status?.conditions,
          { type: "ReplicaFailure", status: "True", ...failure },
          apiTime(now),
        )
      : removeCondition(rs.status?.conditions, "ReplicaFailure");
    const status: Status = {
      replicas: active.length,
      fullyLabeledReplicas: fullyLabeled.length,
      readyReplicas: ready.length,
      availableReplicas: available.length,
      observedGeneration: rs.metadata?.generation,
      conditions,
    };
    // A merge patch keeps keys it does not name: conditions go as [] rather than absent, so a cleared one clears.
    if (canonicalJson(status) !== canonicalJson({ conditions: [], ...rs.status })) {
      await this.deps.writer.patchStatus(rs, status);
    }
    if (Number.isFinite(nextLookAt)) return { requeueAfterMs: Math.max(0, nextLookAt - now) + 50 };
    if (failure) throw new Error(`${objectKey(rs)}: ${failure.message}`);
  }
}

/** When the first of these clusters whose head is down runs out of grace (Infinity when none is down). */
function headLossDeadline(clusters: RayCluster[]): number {
  const since = clusters.map(headLostSince).filter((t): t is number => t !== undefined);
  return since.length > 0 ? Math.min(...since) + HEAD_LOSS_GRACE_MS : Infinity;
}
