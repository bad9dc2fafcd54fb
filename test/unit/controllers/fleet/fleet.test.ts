import { expect } from "chai";
import { Orchestration } from "../../../../api/labels.js";
import { ROLLBACK_ANNOTATION } from "../../../../controllers/fleet/fleet.js";
import type { DeploymentCondition, FleetObject } from "../../../../controllers/fleet/objects.js";
import { fleetManifest, NS, World } from "./world.js";

const condition = (f: FleetObject, type: string) =>
  (f.status?.conditions as DeploymentCondition[] | undefined)?.find((c) => c.type === type);

function withImage(f: FleetObject, image: string): FleetObject {
  const next = structuredClone(f);
  next.spec.template.spec = {
    ...next.spec.template.spec,
    headGroupSpec: { template: { spec: { containers: [{ name: "head", image }] } } },
  };
  return next;
}

describe("RayClusterFleet reconciler", () => {
  it("a fleet of 3 gets one replica set (revision 1) and 3 RayClusters, then reports itself available", async () => {
    const w = new World();
    w.apply(fleetManifest("llama"));
    await w.settle();
    const [rs, ...rest] = w.setsOf("llama");
    expect(rest).to.have.length(0);
    const hash = rs!.metadata?.labels?.[Orchestration.podTemplateHash];
    expect(rs!.metadata?.name).to.equal(`llama-${hash}`);
    expect(rs!.metadata?.annotations).to.deep.include({
      [Orchestration.revision]: "1",
      [Orchestration.desiredReplicas]: "3",
      [Orchestration.maxReplicas]: "4",
    });
    expect(rs!.metadata?.labels?.[Orchestration.rayClusterFleetName]).to.equal("llama");
    expect(rs!.metadata?.ownerReferences?.[0]).to.deep.include({ kind: "RayClusterFleet", controller: true });
    expect(rs!.spec.selector.matchLabels).to.deep.equal({ app: "llama", [Orchestration.podTemplateHash]: hash });
    const clusters = w.clusters.list();
    expect(clusters).to.have.length(3);
    for (const c of clusters) {
      expect(c.metadata?.name).to.match(new RegExp(`^llama-${hash}-`));
      expect(c.metadata?.labels).to.deep.include({ app: "llama", [Orchestration.podTemplateHash]: hash });
      expect(c.metadata?.ownerReferences?.[0]).to.deep.include({ kind: "RayClusterReplicaSet", controller: true });
    }
    const f = w.fleet("llama");
    expect(f.status).to.deep.include({
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      unavailableReplicas: 0,
      scalingTargetSelector: "app=llama",
      observedGeneration: 1,
    });
    expect(condition(f, "Available")).to.deep.include({ status: "True", reason: "MinimumReplicasAvailable" });
    expect(condition(f, "Progressing")).to.deep.include({ status: "True", reason: "NewReplicaSetAvailable" });
  });

  it("rolls a template change out with maxSurge 1 / maxUnavailable 0: never over 4 clusters, never under 3 available", async () => {
    const w = new World();
    const strategy = { type: "RollingUpdate" as const, rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    w.apply(fleetManifest("llama", { strategy }));
    await w.settle();
    let minAvailable = Infinity;
    let maxClusters = 0;
    w.onWrite = () => {
      const sets = w.setsOf("llama");
      maxClusters = Math.max(maxClusters, w.clusters.size);
      minAvailable = Math.min(
        minAvailable,
        sets.reduce((n, s) => n + (s.status?.availableReplicas ?? 0), 0),
      );
    };
    w.apply(withImage(w.fleet("llama"), "v2"));
    await w.settle();
    expect(maxClusters).to.equal(4);
    expect(minAvailable).to.equal(3);
    const sets = w.setsOf("llama");
    expect(sets.map((s) => [s.metadata?.annotations?.[Orchestration.revision], s.spec.replicas]).sort()).to.deep.equal([
      ["1", 0],
      ["2", 3],
    ]);
    const f = w.fleet("llama");
    expect(f.status).to.deep.include({ replicas: 3, updatedReplicas: 3, availableReplicas: 3, observedGeneration: 2 });
    expect(condition(f, "Progressing")?.reason).to.equal("NewReplicaSetAvailable");
    expect(f.metadata?.annotations?.[Orchestration.revision]).to.equal("2");
    expect(w.events.some((e) => e.includes("Scaled down RayClusterReplicaSet"))).to.equal(true);
  });

  it("Recreate removes every old cluster before the new replica set gets any", async () => {
    const w = new World();
    w.apply(fleetManifest("llama", { strategy: { type: "Recreate" } }));
    await w.settle();
    let overlap = false;
    w.onWrite = () => {
      const live = w
        .setsOf("llama")
        .filter((s) => w.clusters.byIndex("controller-uid", s.metadata?.uid ?? "").length > 0);
      if (live.length > 1) overlap = true;
    };
    w.apply(withImage(w.fleet("llama"), "v2"));
    await w.settle();
    expect(overlap).to.equal(false);
    expect(w.clusters.size).to.equal(3);
    expect(w.fleet("llama").status).to.deep.include({ updatedReplicas: 3, availableReplicas: 3 });
  });

  it("a paused fleet creates no new revision but still scales; resuming finishes the rollout", async () => {
    const w = new World();
    w.apply(fleetManifest("llama"));
    await w.settle();
    const paused = withImage(w.fleet("llama"), "v2");
    paused.spec.paused = true;
    paused.spec.replicas = 5;
    w.apply(paused);
    await w.settle();
    expect(w.setsOf("llama")).to.have.length(1);
    expect(w.clusters.size).to.equal(5);
    expect(condition(w.fleet("llama"), "Progressing")).to.deep.include({
      status: "Unknown",
      reason: "DeploymentPaused",
    });
    const resumed = structuredClone(w.fleet("llama"));
    resumed.spec.paused = false;
    w.apply(resumed);
    await w.settle();
    const f = w.fleet("llama");
    expect(f.status).to.deep.include({ replicas: 5, updatedReplicas: 5, availableReplicas: 5 });
    expect(condition(f, "Progressing")?.reason).to.equal("NewReplicaSetAvailable");
  });

  it("rolls back to the previous revision: the old replica set comes back as revision 3 with its history", async () => {
    const w = new World();
    w.apply(fleetManifest("llama"));
    await w.settle();
    w.apply(withImage(w.fleet("llama"), "v2"));
    await w.settle();
    const undo = structuredClone(w.fleet("llama"));
    undo.metadata = { ...undo.metadata, annotations: { [ROLLBACK_ANNOTATION]: "0" } };
    w.apply(undo);
    await w.settle();
    const f = w.fleet("llama");
    expect(f.metadata?.annotations?.[ROLLBACK_ANNOTATION]).to.equal(undefined);
    expect(JSON.stringify(f.spec.template)).to.include('"image":"v1"');
    const sets = w.setsOf("llama");
    expect(sets).to.have.length(2);
    const current = sets.find((s) => s.spec.replicas === 3)!;
    expect(current.metadata?.annotations).to.deep.include({
      [Orchestration.revision]: "3",
      [Orchestration.revisionHistory]: "1",
    });
    expect(w.events.some((e) => e.includes("DeploymentRollback"))).to.equal(true);
  });

  it("knows its replica set by the hash label even when a webhook added to the replica set's template", async () => {
    const w = new World();
    w.apply(fleetManifest("llama"));
    await w.settle();
    const [rs] = w.setsOf("llama");
    const mutated = structuredClone(rs!);
    (mutated.spec.template!.spec as Record<string, unknown>).injected = { schedulerName: "aibrix-gpu-scheduler" };
    w.sets.upsert(mutated);
    await w.settle();
    expect(w.setsOf("llama")).to.have.length(1);
    expect(w.fleet("llama").status?.collisionCount).to.equal(undefined);
    expect(w.clusters.size).to.equal(3);
  });

  it("keeps revisionHistoryLimit old replica sets", async () => {
    const w = new World();
    w.apply(fleetManifest("llama", { revisionHistoryLimit: 1 }));
    await w.settle();
    for (const image of ["v2", "v3", "v4"]) {
      w.apply(withImage(w.fleet("llama"), image));
      await w.settle();
    }
    const revisions = w.setsOf("llama").map((s) => s.metadata?.annotations?.[Orchestration.revision]);
    expect(revisions.sort()).to.deep.equal(["3", "4"]);
  });

  it("scales mid-rollout in proportion and keeps the desired-replicas annotations current", async () => {
    const w = new World();
    const strategy = { type: "RollingUpdate" as const, rollingUpdate: { maxSurge: 2, maxUnavailable: 0 } };
    w.apply(fleetManifest("llama", { replicas: 4, strategy }));
    await w.settle();
    const next = withImage(w.fleet("llama"), "v2");
    next.metadata = { ...next.metadata, name: "llama" };
    w.apply(next);
    await w.pass(); // the new replica set exists, with 2 clusters asked
    await w.pass();
    const scaled = structuredClone(w.fleet("llama"));
    scaled.spec.replicas = 8;
    w.apply(scaled);
    await w.settle();
    const f = w.fleet("llama");
    expect(f.status).to.deep.include({ replicas: 8, updatedReplicas: 8, availableReplicas: 8 });
    for (const s of w.setsOf("llama")) {
      expect(s.metadata?.annotations?.[Orchestration.desiredReplicas]).to.equal("8");
    }
  });

  it("a cluster that never becomes ready trips progressDeadlineSeconds: Progressing False ProgressDeadlineExceeded", async () => {
    const w = new World();
    w.apply(fleetManifest("llama", { replicas: 1, progressDeadlineSeconds: 30 }));
    await w.settle();
    w.apply(withImage(w.fleet("llama"), "broken"));
    await w.pass(); // new replica set
    await w.pass(); // its cluster
    for (const c of w.clusters.list()) if (!c.status) w.stuck.add(c.metadata?.name ?? "");
    await w.settle();
    expect(condition(w.fleet("llama"), "Progressing")).to.deep.include({ status: "True" });
    const requeue = await w.fleetReconciler.reconcile(`${NS}/llama`);
    expect(requeue?.requeueAfterMs).to.be.within(1, 31_000);
    w.now += 31_000;
    await w.settle();
    const cond = condition(w.fleet("llama"), "Progressing")!;
    expect(cond).to.deep.include({ status: "False", reason: "ProgressDeadlineExceeded" });
    expect(cond.message).to.match(/has timed out progressing/);
    // The old revision still serves: maxUnavailable of 25% of 1 is 0.
    expect(condition(w.fleet("llama"), "Available")?.status).to.equal("True");
  });
});
