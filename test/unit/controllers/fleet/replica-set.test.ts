import { expect } from "chai";
import { Orchestration } from "../../../../api/labels.js";
import {
  apiTime,
  HEAD_LOSS_GRACE_MS,
  isReady,
  type RayCluster,
  type ReplicaSetObject,
} from "../../../../controllers/fleet/objects.js";
import { deletionOrder, ReplicaSetReconciler } from "../../../../controllers/fleet/replica-set.js";
import { CONTROLLER_UID_INDEX, controllerUidIndex } from "../../../../controllers/fleet/objects.js";
import { objectKey } from "../../../../kube/objects.js";
import { ObjectStore } from "../../../../kube/store.js";
import { NS, T0 } from "./world.js";

function replicaSet(replicas: number, minReadySeconds = 0): ReplicaSetObject {
  return {
    apiVersion: "orchestration.aibrix.ai/v1alpha1",
    kind: "RayClusterReplicaSet",
    metadata: { name: "llama-abc", namespace: NS, uid: "rs-uid", generation: 1 },
    spec: {
      replicas,
      minReadySeconds,
      selector: { matchLabels: { app: "llama" } },
      template: { metadata: { labels: { app: "llama" } }, spec: { headGroupSpec: {} } },
    },
  };
}

function cluster(
  name: string,
  state: "ready" | "pending" | "failed",
  readyAt = T0,
  extra: Partial<RayCluster["metadata"]> = {},
): RayCluster {
  const at = apiTime(readyAt);
  const conditions =
    state === "pending"
      ? []
      : [
          { type: "RayClusterProvisioned", status: "True", lastTransitionTime: at },
          { type: "HeadPodReady", status: state === "ready" ? "True" : "False", lastTransitionTime: at },
        ];
  return {
    metadata: {
      name,
      namespace: NS,
      labels: { app: "llama" },
      creationTimestamp: apiTime(T0 - 60_000),
      ownerReferences: [
        { apiVersion: "x", kind: "RayClusterReplicaSet", name: "llama-abc", uid: "rs-uid", controller: true },
      ],
      ...extra,
    },
    status: { readyWorkerReplicas: 1, desiredWorkerReplicas: 1, conditions },
  };
}

function harness(rs: ReplicaSetObject, clusters: RayCluster[], now = T0 + 1000, failDeletes = new Set<string>()) {
  const sets = new ObjectStore<ReplicaSetObject>();
  sets.upsert(rs);
  const store = new ObjectStore<RayCluster>({ [CONTROLLER_UID_INDEX]: controllerUidIndex });
  for (const c of clusters) store.upsert(c);
  const log: string[] = [];
  let status: ReplicaSetObject["status"];
  let n = 0;
  const reconciler = new ReplicaSetReconciler({
    replicaSets: sets,
    clusters: store,
    clock: () => now,
    recorder: { record: () => undefined },
    writer: {
      createCluster: async (_ns, c) => {
        log.push(`create ${c.metadata?.generateName}`);
        return `${c.metadata?.generateName}new${++n}`;
      },
      deleteCluster: async (_ns, name) => {
        if (failDeletes.has(name)) throw new Error("etcd timeout");
        log.push(`delete ${name}`);
      },
      patchStatus: async (_rs, s) => {
        status = s;
      },
    },
  });
  return { reconciler, log, store, status: () => status, key: objectKey(rs) };
}

describe("RayClusterReplicaSet reconciler", () => {
  it("creates the missing clusters once, even when the cache has not shown them yet", async () => {
    const h = harness(replicaSet(3), [cluster("a", "ready")]);
    await h.reconciler.reconcile(h.key);
    await h.reconciler.reconcile(h.key);
    expect(h.log).to.deep.equal(["create llama-abc-", "create llama-abc-"]);
    expect(h.status()).to.deep.include({
      replicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      fullyLabeledReplicas: 1,
    });
  });

  it("replaces a provisioned cluster whose head has stayed not ready past the grace, and one KubeRay marked failed", async () => {
    const gaveUp: RayCluster = { ...cluster("c", "pending"), status: { state: "failed" } };
    const h = harness(replicaSet(3), [cluster("a", "ready"), cluster("b", "failed"), gaveUp], T0 + HEAD_LOSS_GRACE_MS);
    await h.reconciler.reconcile(h.key);
    expect(h.log).to.deep.equal(["delete b", "delete c", "create llama-abc-", "create llama-abc-"]);
  });

  it("waits out a shorter head outage, counting the cluster and looking again when its grace ends", async () => {
    const h = harness(replicaSet(2), [cluster("a", "ready"), cluster("b", "failed")], T0 + 10_000);
    const result = await h.reconciler.reconcile(h.key);
    expect(h.log).to.deep.equal([]);
    expect(h.status()).to.deep.include({ replicas: 2, readyReplicas: 1 });
    expect(result?.requeueAfterMs).to.be.within(HEAD_LOSS_GRACE_MS - 10_000, HEAD_LOSS_GRACE_MS - 10_000 + 100);
  });

  it("never replaces a cluster short of workers: KubeRay marks it provisioned before it creates them", async () => {
    const early = cluster("b", "ready", T0 - 10 * HEAD_LOSS_GRACE_MS);
    early.status = { ...early.status, readyWorkerReplicas: 0, desiredWorkerReplicas: 1 };
    const h = harness(replicaSet(2), [cluster("a", "ready"), early], T0);
    await h.reconciler.reconcile(h.key);
    expect(h.log).to.deep.equal([]);
    expect(h.status()).to.deep.include({ replicas: 2, readyReplicas: 1 });
  });

  it("a delete that fails does not stop the other deletes and creates of the pass", async () => {
    const down = [cluster("a", "failed"), cluster("b", "failed")];
    const h = harness(replicaSet(2), down, T0 + HEAD_LOSS_GRACE_MS, new Set(["a"]));
    const err = await h.reconciler.reconcile(h.key).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(h.log).to.deep.equal(["delete b", "create llama-abc-", "create llama-abc-"]);
    expect(err?.message).to.match(/etcd timeout/);
    expect(h.status()?.conditions?.[0]).to.deep.include({ type: "ReplicaFailure", reason: "FailedDelete" });
  });

  it("waits for a cluster still coming up rather than replacing it", async () => {
    const h = harness(replicaSet(2), [cluster("a", "ready"), cluster("b", "pending")]);
    await h.reconciler.reconcile(h.key);
    expect(h.log).to.deep.equal([]);
    expect(h.status()).to.deep.include({ replicas: 2, readyReplicas: 1 });
  });

  it("scales down not-ready clusters first, then lower deletion cost, then older", async () => {
    const clusters = [
      cluster("old", "ready", T0, { creationTimestamp: apiTime(T0 - 90_000) }),
      cluster("young", "ready"),
      cluster("cheap", "ready", T0, { annotations: { [Orchestration.podDeletionCost]: "-5" } }),
      cluster("pending", "pending"),
    ];
    expect([...clusters].sort(deletionOrder).map((c) => c.metadata?.name)).to.deep.equal([
      "pending",
      "cheap",
      "old",
      "young",
    ]);
    const h = harness(replicaSet(1), clusters);
    await h.reconciler.reconcile(h.key);
    expect(h.log).to.deep.equal(["delete pending", "delete cheap", "delete old"]);
  });

  it("counts a ready cluster available only after minReadySeconds, and looks again then", async () => {
    const h = harness(replicaSet(1, 10), [cluster("a", "ready", T0)], T0 + 4_000);
    const result = await h.reconciler.reconcile(h.key);
    expect(h.status()).to.deep.include({ readyReplicas: 1, availableReplicas: 0 });
    expect(result?.requeueAfterMs).to.be.within(6_000, 6_100);
  });

  it("reports a failed create as ReplicaFailure/FailedCreate and retries", async () => {
    const sets = new ObjectStore<ReplicaSetObject>();
    const rs = replicaSet(1);
    sets.upsert(rs);
    let status: ReplicaSetObject["status"];
    const reconciler = new ReplicaSetReconciler({
      replicaSets: sets,
      clusters: new ObjectStore<RayCluster>({ [CONTROLLER_UID_INDEX]: controllerUidIndex }),
      recorder: { record: () => undefined },
      writer: {
        createCluster: async () => {
          throw new Error("admission webhook denied: spec.headGroupSpec: required");
        },
        deleteCluster: async () => undefined,
        patchStatus: async (_rs, s) => void (status = s),
      },
    });
    let failed: Error | undefined;
    await reconciler.reconcile(objectKey(rs)).catch((e: Error) => (failed = e));
    expect(failed?.message).to.match(/denied/);
    expect(status?.conditions?.[0]).to.deep.include({ type: "ReplicaFailure", status: "True", reason: "FailedCreate" });
  });

  it("reads KubeRay's readiness: conditions when present, else state, and every desired worker", () => {
    expect(isReady(cluster("a", "ready"))).to.equal(true);
    expect(isReady({ status: { state: "ready", readyWorkerReplicas: 2, desiredWorkerReplicas: 2 } })).to.equal(true);
    expect(isReady({ status: { state: "ready", readyWorkerReplicas: 1, desiredWorkerReplicas: 2 } })).to.equal(false);
    expect(isReady(cluster("b", "pending"))).to.equal(false);
  });
});
