// The fleet controllers wired to the shared informers: RayClusterFleets own RayClusterReplicaSets, which own
// ray.io/v1 RayClusters. Owned objects are found through an index by their controller's uid.
import type { KubeObject } from "../../kube/objects.js";
import { objectPath } from "../../kube/objects.js";
import type { ControllerSetup, ManagerContext } from "../../kube/manager.js";
import { isNotFound } from "../../kube/request.js";
import { patchStatus, retryOnConflict } from "../../kube/writes.js";
import { FleetReconciler, type FleetWriter } from "./fleet.js";
import {
  CONTROLLER_UID_INDEX,
  controllerUidIndex,
  FleetResources,
  type FleetObject,
  type RayCluster,
  type ReplicaSetObject,
} from "./objects.js";
import { ReplicaSetReconciler, type ReplicaSetWriter } from "./replica-set.js";

export const FLEET_CONTROLLER = "raycluster-fleet";
export const REPLICA_SET_CONTROLLER = "raycluster-replicaset";

const { fleets, replicaSets, rayClusters } = FleetResources;

/** A replace over `obj`'s resourceVersion; a conflict surfaces (the reconcile retries over the newer cache). */
async function replace(ctx: ManagerContext, ref: typeof fleets, obj: KubeObject): Promise<void> {
  await ctx.client.replace(objectPath(ref, `${obj.metadata?.namespace}/${obj.metadata?.name}`), obj);
}

function fleetWriter(ctx: ManagerContext): FleetWriter {
  const { client } = ctx;
  return {
    createReplicaSet: async (rs) =>
      await client.create<ReplicaSetObject>(
        objectPath(replicaSets, `${rs.metadata?.namespace}/x`).replace(/\/x$/, ""),
        rs,
      ),
    getReplicaSet: async (namespace, name) =>
      await client.get<ReplicaSetObject>(objectPath(replicaSets, `${namespace}/${name}`)),
    updateReplicaSet: async (rs) => await replace(ctx, replicaSets, rs),
    deleteReplicaSet: async (namespace, name) => {
      try {
        await client.delete(objectPath(replicaSets, `${namespace}/${name}`), { propagationPolicy: "Background" });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
    updateFleet: async (fleet) => await replace(ctx, fleets, fleet),
    annotateFleet: async (fleet, annotations) =>
      void (await client.patch(objectPath(fleets, `${fleet.metadata?.namespace}/${fleet.metadata?.name}`), {
        metadata: { annotations },
      })),
    patchStatus: async (fleet, status) => void (await patchStatus(client, fleets, fleet, status)),
  };
}

function replicaSetWriter(ctx: ManagerContext): ReplicaSetWriter {
  const { client } = ctx;
  return {
    createCluster: async (namespace, cluster) => {
      const created = await client.create<RayCluster>(
        objectPath(rayClusters, `${namespace}/x`).replace(/\/x$/, ""),
        cluster,
      );
      return created.metadata?.name ?? "";
    },
    deleteCluster: async (namespace, name) => {
      try {
        await client.delete(objectPath(rayClusters, `${namespace}/${name}`), { propagationPolicy: "Background" });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
    patchStatus: async (rs, status) =>
      void (await retryOnConflict(() => patchStatus(ctx.client, replicaSets, rs, status))),
  };
}

export function fleetController(): ControllerSetup {
  return {
    name: FLEET_CONTROLLER,
    setup(ctx) {
      const fleetInformer = ctx.informers.for<FleetObject>(fleets);
      const sets = ctx.informers.for<ReplicaSetObject>(replicaSets);
      const clusters = ctx.informers.for<RayCluster>(rayClusters);
      sets.addIndexers({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
      clusters.addIndexers({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
      const reconciler = new FleetReconciler({
        fleets: fleetInformer.store,
        replicaSets: sets.store,
        clusters: clusters.store,
        writer: fleetWriter(ctx),
        recorder: ctx.recorder(FLEET_CONTROLLER),
      });
      // A cluster's change reaches its fleet through its replica set (Recreate waits for old clusters to go).
      const fleetOfCluster = (obj: KubeObject): string[] => {
        const owner = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === replicaSets.kind);
        const rs = owner && sets.store.get(`${obj.metadata?.namespace}/${owner.name}`);
        const fleet = rs?.metadata?.ownerReferences?.find((r) => r.controller && r.kind === fleets.kind);
        return fleet ? [`${obj.metadata?.namespace}/${fleet.name}`] : [];
      };
      return {
        name: FLEET_CONTROLLER,
        for: fleetInformer,
        owns: [sets],
        watches: [{ informer: clusters, map: fleetOfCluster }],
        reconcile: reconciler.reconcile,
        workers: 4,
      };
    },
  };
}

export function replicaSetController(): ControllerSetup {
  return {
    name: REPLICA_SET_CONTROLLER,
    setup(ctx) {
      const sets = ctx.informers.for<ReplicaSetObject>(replicaSets);
      const clusters = ctx.informers.for<RayCluster>(rayClusters);
      sets.addIndexers({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
      clusters.addIndexers({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
      const reconciler = new ReplicaSetReconciler({
        replicaSets: sets.store,
        clusters: clusters.store,
        writer: replicaSetWriter(ctx),
        recorder: ctx.recorder(REPLICA_SET_CONTROLLER),
      });
      return {
        name: REPLICA_SET_CONTROLLER,
        for: sets,
        owns: [clusters],
        reconcile: reconciler.reconcile,
        workers: 4,
      };
    },
  };
}
