import { expect } from "chai";
import { StaticClusterLookup } from "../../../webhooks/cluster.js";
import { applied, call, deps, firstOfKind, patchOf, review, validManifests, type Json } from "./fixtures.js";

function clone<T>(v: T): T {
  return structuredClone(v);
}

async function validateDoc(obj: Json, d = deps(new StaticClusterLookup()), opts: Parameters<typeof review>[1] = {}) {
  return call(d, "validate", review(obj, opts));
}

describe("webhooks: custom resource validation", () => {
  it("allows every valid fixture of every kind (ModelAdapter, PodAutoscaler, RayClusterFleet/ReplicaSet, KVCache)", async () => {
    const docs = validManifests();
    expect(new Set(docs.map((d) => d.kind))).to.have.all.keys(
      "ModelAdapter",
      "PodAutoscaler",
      "RayClusterFleet",
      "RayClusterReplicaSet",
      "KVCache",
    );
    for (const doc of docs) {
      const res = await validateDoc(doc);
      expect(res.allowed, `${doc.kind} ${(doc.metadata as Json).name}: ${res.status?.message}`).to.equal(true);
    }
  });

  const negatives: [string, string, (o: Json) => void, RegExp][] = [
    [
      "ModelAdapter",
      "an artifactURL with an unknown scheme",
      (o) => ((o.spec as Json).artifactURL = "ftp://x/y"),
      /spec\.artifactURL: "ftp:\/\/x\/y" breaks rule/,
    ],
    [
      "ModelAdapter",
      "no podSelector",
      (o) => delete (o.spec as Json).podSelector,
      /spec\.podSelector: \(absent\) breaks rule "required"/,
    ],
    [
      "PodAutoscaler",
      "maxReplicas 0",
      (o) => ((o.spec as Json).maxReplicas = 0),
      /spec\.maxReplicas: 0 breaks rule "minimum"/,
    ],
    [
      "PodAutoscaler",
      "an unknown strategy",
      (o) => ((o.spec as Json).scalingStrategy = "VPA"),
      /spec\.scalingStrategy: "VPA" breaks rule "enum"/,
    ],
    [
      "RayClusterFleet",
      "a missing template",
      (o) => delete (o.spec as Json).template,
      /spec\.template: \(absent\) breaks rule "required"/,
    ],
    [
      "RayClusterReplicaSet",
      "negative replicas",
      (o) => ((o.spec as Json).replicas = -1),
      /spec\.replicas: -1 breaks rule/,
    ],
    [
      "KVCache",
      "an unsupported backend",
      (o) => (((o.metadata as Json).annotations as Json)["kvcache.orchestration.aibrix.ai/backend"] = "redis"),
      /kvcache\.orchestration\.aibrix\.ai\/backend"\]: "redis" breaks rule "supported-backend"/,
    ],
  ];
  for (const [kind, what, breakIt, message] of negatives) {
    it(`denies a ${kind} with ${what}, naming field, value and rule (422 Invalid)`, async () => {
      const obj = clone(firstOfKind(kind));
      breakIt(obj);
      const res = await validateDoc(obj);
      expect(res.allowed).to.equal(false);
      expect(res.uid).to.equal("6b1c0e2a-0000-4000-8000-000000000001");
      expect(res.status?.code).to.equal(422);
      expect(res.status?.reason).to.equal("Invalid");
      expect(res.status?.message).to.match(new RegExp(`^${kind} default/`));
      expect(res.status?.message).to.match(message);
    });
  }

  it("denies an update that changes an immutable field, with the old object as evidence", async () => {
    const old = firstOfKind("RayClusterFleet");
    const next = clone(old);
    (((next.spec as Json).selector as Json).matchLabels as Json).tier = "b";
    ((((next.spec as Json).template as Json).metadata as Json).labels as Json).tier = "b";
    const res = await validateDoc(next, undefined, { operation: "UPDATE", oldObject: old });
    expect(res.allowed).to.equal(false);
    expect(res.status?.message).to.match(/spec\.selector: .* breaks rule "immutable"/);
  });

  it("ratchets: a problem the stored object already had warns instead of blocking an unrelated edit", async () => {
    const old = clone(firstOfKind("PodAutoscaler"));
    (old.spec as Json).maxReplicas = 0;
    const next = clone(old);
    (next.metadata as Json).labels = { team: "a" };
    const res = await validateDoc(next, undefined, { operation: "UPDATE", oldObject: old });
    expect(res.allowed).to.equal(true);
    expect(res.warnings?.join()).to.match(/already invalid: spec\.maxReplicas/);
    const worse = clone(old);
    (worse.spec as Json).scalingStrategy = "VPA";
    expect((await validateDoc(worse, undefined, { operation: "UPDATE", oldObject: old })).allowed).to.equal(false);
  });

  it("lets an object being deleted drop its finalizers, and allows DELETE", async () => {
    const old = clone(firstOfKind("ModelAdapter"));
    (old.spec as Json).artifactURL = "ftp://legacy";
    const next = clone(old);
    (next.metadata as Json).deletionTimestamp = "2026-01-01T00:00:00Z";
    expect((await validateDoc(next, undefined, { operation: "UPDATE", oldObject: old })).allowed).to.equal(true);
    expect((await call(deps(), "validate", review(null, { operation: "DELETE", oldObject: old }))).allowed).to.equal(
      true,
    );
  });

  it("checks the PodAutoscaler's scale target against the cluster: served, with /scale", async () => {
    const lookup = new StaticClusterLookup();
    const pa = clone(firstOfKind("PodAutoscaler"));
    const ref = (pa.spec as Json).scaleTargetRef as Json;
    ref.kind = "Rollout";
    ref.apiVersion = "argoproj.io/v1alpha1";
    let res = await validateDoc(pa, deps(lookup));
    expect(res.allowed).to.equal(false);
    expect(res.status?.message).to.match(/spec\.scaleTargetRef\.kind: "Rollout" breaks rule "served-kind"/);
    ref.kind = "KVCache";
    ref.apiVersion = "orchestration.aibrix.ai/v1alpha1";
    res = await validateDoc(pa, deps(lookup));
    expect(res.status?.message).to.match(/"KVCache" breaks rule "scale-subresource": .*no \/scale subresource/);
    lookup.resources.set("argoproj.io/v1alpha1/Rollout", { served: true, scalable: true });
    ref.kind = "Rollout";
    ref.apiVersion = "argoproj.io/v1alpha1";
    expect((await validateDoc(pa, deps(lookup))).allowed).to.equal(true);
  });

  it("allows (with a warning) when the cluster cannot be asked; defaults apiVersion for well-known kinds", async () => {
    const lookup = new StaticClusterLookup();
    lookup.resourceFacts = async () => {
      throw new Error("apiserver unavailable");
    };
    const res = await validateDoc(firstOfKind("PodAutoscaler"), deps(lookup));
    expect(res.allowed).to.equal(true);
    expect(res.warnings?.join()).to.match(/could not check scale target apps\/v1 Deployment: apiserver unavailable/);
    const pa = clone(firstOfKind("PodAutoscaler"));
    delete ((pa.spec as Json).scaleTargetRef as Json).apiVersion;
    const seen: string[] = [];
    const recording = new StaticClusterLookup();
    const inner = recording.resourceFacts.bind(recording);
    recording.resourceFacts = async (apiVersion, kind) => {
      seen.push(`${apiVersion} ${kind}`);
      return inner(apiVersion, kind);
    };
    expect((await validateDoc(pa, deps(recording))).allowed).to.equal(true);
    expect(seen).to.deep.equal(["apps/v1 Deployment"]);
  });

  it("passes the schema's deprecation notes on as admission warnings", async () => {
    const pa = clone(firstOfKind("PodAutoscaler"));
    ((pa.metadata as Json).annotations as Json)["kpa.autoscaling.aibrix.ai/scale-down-delay"] = "5m";
    const res = await validateDoc(pa);
    expect(res.allowed).to.equal(true);
    expect(res.warnings?.join("\n")).to.match(
      /^annotation kpa\.autoscaling\.aibrix\.ai\/scale-down-delay: legacy key, treated as autoscaling/,
    );
  });

  it("allows kinds it does not own untouched, with a warning — never blocked by accident", async () => {
    const res = await call(
      deps(),
      "validate",
      review({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: {} }),
    );
    expect(res.allowed).to.equal(true);
    expect(res.warnings?.[0]).to.match(/v1 Pod is not validated by this webhook/);
  });

  it("serves AIBrix's defaulting paths: add-only defaults, idempotent", async () => {
    const fleet = clone(firstOfKind("RayClusterFleet"));
    delete (fleet.spec as Json).strategy;
    const res = await call(deps(), "mutate", review(fleet));
    const ops = patchOf(res);
    expect(ops.length).to.be.greaterThan(0);
    expect(ops.every((o) => o.op === "add")).to.equal(true);
    const out = applied(fleet, ops);
    expect(((out.spec as Json).strategy as Json).type).to.equal("RollingUpdate");
    expect(patchOf(await call(deps(), "mutate", review(out)))).to.deep.equal([]);
  });

  it("defaults a KVCache's backend and mode annotations to vineyard when absent or empty, as AIBrix does", async () => {
    const backend = "kvcache.orchestration.aibrix.ai/backend";
    const mode = "kvcache.orchestration.aibrix.ai/mode";
    const bare = clone(firstOfKind("KVCache"));
    delete (bare.metadata as Json).annotations;
    const out = applied(bare, patchOf(await call(deps(), "mutate", review(bare))));
    expect((out.metadata as Json).annotations).to.include({ [backend]: "vineyard", [mode]: "vineyard" });
    expect(patchOf(await call(deps(), "mutate", review(out)))).to.deep.equal([]);
    const partial = clone(firstOfKind("KVCache"));
    (partial.metadata as Json).annotations = { [backend]: "infinistore", [mode]: "", keep: "me" };
    const kept = applied(partial, patchOf(await call(deps(), "mutate", review(partial))));
    expect((kept.metadata as Json).annotations).to.deep.equal({
      [backend]: "infinistore",
      [mode]: "vineyard",
      keep: "me",
    });
  });
});
