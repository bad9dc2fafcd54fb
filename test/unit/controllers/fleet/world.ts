// An in-memory cluster for the fleet reconcilers: stores that writes land in (as the API server would echo them
// into the caches), a KubeRay stand-in that marks clusters ready, and a loop that runs both reconcilers to rest.
import { FleetReconciler, type FleetWriter } from "../../../../controllers/fleet/fleet.js";
import {
  apiTime,
  CONTROLLER_UID_INDEX,
  controllerUidIndex,
  type FleetObject,
  type RayCluster,
  type ReplicaSetObject,
} from "../../../../controllers/fleet/objects.js";
import { ReplicaSetReconciler, type ReplicaSetWriter } from "../../../../controllers/fleet/replica-set.js";
import { canonicalJson } from "../../../../controllers/fleet/revision.js";
import { KubeApiError } from "../../../../kube/request.js";
import { objectKey } from "../../../../kube/objects.js";
import { ObjectStore } from "../../../../kube/store.js";

export const T0 = Date.parse("2026-12-01T10:00:00Z");
export const NS = "models";

export function fleetManifest(name: string, spec: Partial<FleetObject["spec"]> = {}): FleetObject {
  return {
    apiVersion: "orchestration.aibrix.ai/v1alpha1",
    kind: "RayClusterFleet",
    metadata: { name, namespace: NS },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, "model.aibrix.ai/name": "llama" } },
        spec: {
          rayVersion: "2.46.0",
          headGroupSpec: { template: { spec: { containers: [{ name: "head", image: "v1" }] } } },
        },
      },
      ...spec,
    },
  };
}

export class World {
  readonly fleets = new ObjectStore<FleetObject>();
  readonly sets = new ObjectStore<ReplicaSetObject>({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
  readonly clusters = new ObjectStore<RayCluster>({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
  readonly events: string[] = [];
  now = T0;
  writes = 0;
  /** Names of clusters that KubeRay never gets ready. */
  readonly stuck = new Set<string>();
  /** Called after every write (to check invariants mid-rollout). */
  onWrite: () => void = () => {};
  private seq = 0;
  readonly fleetReconciler: FleetReconciler;
  readonly setReconciler: ReplicaSetReconciler;

  constructor() {
    const recorder = {
      record: (o: { metadata?: { name?: string } }, type: string, reason: string, _a: string, note: string) =>
        this.events.push(`${type} ${reason} ${o.metadata?.name}: ${note}`),
    };
    const clock = () => this.now;
    this.fleetReconciler = new FleetReconciler({
      fleets: this.fleets,
      replicaSets: this.sets,
      clusters: this.clusters,
      writer: this.fleetWriter(),
      recorder,
      clock,
    });
    this.setReconciler = new ReplicaSetReconciler({
      replicaSets: this.sets,
      clusters: this.clusters,
      writer: this.setWriter(),
      recorder,
      clock,
    });
  }

  private wrote(): void {
    this.writes++;
    this.onWrite();
  }

  private stamp<T extends { metadata?: object }>(obj: T, name: string): T {
    return {
      ...obj,
      metadata: {
        ...obj.metadata,
        name,
        uid: `uid-${++this.seq}`,
        generation: 1,
        resourceVersion: String(this.seq),
        creationTimestamp: apiTime(this.now + this.seq),
      },
    };
  }

  apply(fleet: FleetObject): void {
    const live = this.fleets.get(objectKey(fleet));
    if (!live) return void this.fleets.upsert(this.stamp(fleet, fleet.metadata?.name ?? ""));
    const changed = canonicalJson(live.spec) !== canonicalJson(fleet.spec);
    const generation = (live.metadata?.generation ?? 1) + (changed ? 1 : 0);
    this.fleets.upsert({
      ...fleet,
      metadata: { ...live.metadata, ...fleet.metadata, generation },
      status: live.status,
    });
  }

  fleet(name: string): FleetObject {
    return this.fleets.get(`${NS}/${name}`)!;
  }

  setsOf(name: string): ReplicaSetObject[] {
    return this.sets.byIndex(CONTROLLER_UID_INDEX, this.fleet(name).metadata?.uid ?? "");
  }

  private fleetWriter(): FleetWriter {
    return {
      createReplicaSet: async (rs) => {
        if (this.sets.get(objectKey(rs))) throw new KubeApiError(409, "AlreadyExists", "exists");
        const created = this.stamp(rs, rs.metadata?.name ?? "");
        this.sets.upsert(created);
        this.wrote();
        return created;
      },
      getReplicaSet: async (ns, name) => this.sets.get(`${ns}/${name}`)!,
      updateReplicaSet: async (rs) => {
        const live = this.sets.get(objectKey(rs))!;
        const changed = canonicalJson(live.spec) !== canonicalJson(rs.spec);
        const generation = (live.metadata?.generation ?? 1) + (changed ? 1 : 0);
        this.sets.upsert({ ...rs, metadata: { ...rs.metadata, generation }, status: live.status });
        this.wrote();
      },
      deleteReplicaSet: async (ns, name) => {
        const rs = this.sets.remove(`${ns}/${name}`);
        for (const c of this.clusters.byIndex(CONTROLLER_UID_INDEX, rs?.metadata?.uid ?? ""))
          this.clusters.remove(objectKey(c));
        this.wrote();
      },
      annotateFleet: async (fleet, annotations) => {
        const live = this.fleets.get(objectKey(fleet))!;
        const metadata = { ...live.metadata, annotations: { ...live.metadata?.annotations, ...annotations } };
        this.fleets.upsert({ ...live, metadata });
        this.wrote();
      },
      updateFleet: async (fleet) => {
        this.apply(fleet);
        this.wrote();
      },
      patchStatus: async (fleet, status) => {
        const live = this.fleets.get(objectKey(fleet))!;
        this.fleets.upsert({ ...live, status: { ...live.status, ...status } });
        this.wrote();
      },
    };
  }

  private setWriter(): ReplicaSetWriter {
    return {
      createCluster: async (_ns, cluster) => {
        const name = `${cluster.metadata?.generateName}${(++this.seq).toString(36).padStart(5, "x")}`;
        this.clusters.upsert(this.stamp(cluster, name));
        this.wrote();
        return name;
      },
      deleteCluster: async (ns, name) => {
        this.clusters.remove(`${ns}/${name}`);
        this.wrote();
      },
      patchStatus: async (rs, status) => {
        const live = this.sets.get(objectKey(rs))!;
        this.sets.upsert({ ...live, status });
        this.wrote();
      },
    };
  }

  /** KubeRay: every cluster not marked stuck is ready (head and workers), from now on. */
  kuberay(): void {
    for (const c of this.clusters.list()) {
      if (this.stuck.has(c.metadata?.name ?? "") || c.status?.conditions) continue;
      const at = apiTime(this.now);
      this.clusters.upsert({
        ...c,
        status: {
          state: "ready",
          readyWorkerReplicas: 1,
          desiredWorkerReplicas: 1,
          conditions: [
            { type: "RayClusterProvisioned", status: "True", lastTransitionTime: at },
            { type: "HeadPodReady", status: "True", lastTransitionTime: at },
          ],
        },
      });
    }
  }

  /** One pass of every reconciler; true when anything was written. */
  async pass(): Promise<boolean> {
    const before = this.writes;
    for (const f of this.fleets.list()) await this.fleetReconciler.reconcile(objectKey(f));
    for (const rs of this.sets.list()) await this.setReconciler.reconcile(objectKey(rs));
    return this.writes !== before;
  }

  /** Passes (KubeRay acting between them when `ready`) until nothing changes. */
  async settle(ready = true, maxPasses = 200): Promise<number> {
    for (let i = 0; i < maxPasses; i++) {
      const wrote = await this.pass();
      const readyBefore = this.clusters.list().filter((c) => c.status).length;
      if (ready) this.kuberay();
      const readyAfter = this.clusters.list().filter((c) => c.status).length;
      if (!wrote && readyBefore === readyAfter) return i;
    }
    throw new Error(`no rest after ${maxPasses} passes`);
  }
}
