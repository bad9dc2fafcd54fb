import { expect } from "chai";
import { Adapter } from "../../../../api/labels.js";
import {
  AdapterLoadError,
  enginePath,
  LoraClient,
  type AdapterArtifact,
  type EngineAddress,
} from "../../../../engines/lora-client.js";
import { EngineView } from "../../../../controllers/model-adapter/engine-view.js";
import type { Pod } from "../../../../controllers/model-adapter/pods.js";
import {
  ModelAdapterReconciler,
  type AdapterWriter,
  type ModelAdapterObject,
} from "../../../../controllers/model-adapter/reconcile.js";
import type { EndpointSlice, Service } from "../../../../controllers/model-adapter/resources.js";
import type { EventType } from "../../../../kube/events.js";
import { ObjectStore } from "../../../../kube/store.js";

/** Engines by host: the adapters each holds, and what the next load answers. */
class FakeEngines extends LoraClient {
  readonly held = new Map<string, Set<string>>();
  readonly calls: string[] = [];
  failLoad = new Map<string, AdapterLoadError>();

  engine(host: string): Set<string> {
    let s = this.held.get(host);
    if (!s) this.held.set(host, (s = new Set(["base"])));
    return s;
  }
  override async listModels(a: EngineAddress): Promise<string[]> {
    this.calls.push(`list ${a.host}`);
    return [...this.engine(a.host)];
  }
  override async load(a: EngineAddress, artifact: AdapterArtifact): Promise<void> {
    this.calls.push(`load ${a.host}${a.sidecarPort ? ":sidecar" : ""}`);
    const err = this.failLoad.get(a.host);
    if (err) throw err;
    if (!a.sidecarPort) enginePath(artifact.artifactURL); // what the real client refuses before calling
    this.engine(a.host).add(artifact.name);
  }
  override async unload(a: EngineAddress, name: string): Promise<void> {
    this.calls.push(`unload ${a.host}`);
    this.engine(a.host).delete(name);
  }
}

class RecordingWriter implements AdapterWriter {
  readonly writes: string[] = [];
  status?: ModelAdapterObject["status"];
  services: Service[] = [];
  slices: EndpointSlice[] = [];
  constructor(private readonly store: ObjectStore<ModelAdapterObject>) {}
  async addFinalizer(a: ModelAdapterObject) {
    this.writes.push("addFinalizer");
    const next = { ...a, metadata: { ...a.metadata, finalizers: [Adapter.finalizer] } };
    this.store.upsert(next);
    return next;
  }
  async removeFinalizer() {
    this.writes.push("removeFinalizer");
  }
  async patchStatus(a: ModelAdapterObject, status: ModelAdapterObject["status"]) {
    this.writes.push("status");
    this.status = status;
    this.store.upsert({ ...a, status });
  }
  async ensureService(_: Service | undefined, want: Service) {
    this.services.push(want);
  }
  async ensureEndpointSlice(_: EndpointSlice | undefined, want: EndpointSlice) {
    this.slices.push(want);
  }
  async readSecret() {
    return { AWS_ACCESS_KEY_ID: "k" };
  }
}

const T0 = Date.parse("2026-12-01T10:00:00Z");

function pod(
  name: string,
  ip: string,
  opts: { readyAt?: number; labels?: Record<string, string>; sidecar?: boolean } = {},
): Pod {
  return {
    metadata: {
      name,
      namespace: "ns",
      uid: `uid-${name}`,
      labels: { app: "llama", "model.aibrix.ai/name": "llama", ...opts.labels },
    },
    spec: { containers: [{ name: "vllm" }, ...(opts.sidecar ? [{ name: "aibrix-runtime" }] : [])] },
    status: {
      phase: "Running",
      podIP: ip,
      conditions: [
        { type: "Ready", status: "True", lastTransitionTime: new Date(opts.readyAt ?? T0 - 60_000).toISOString() },
      ],
    },
  };
}

function adapter(
  spec: Partial<ModelAdapterObject["spec"]> = {},
  extra: Partial<ModelAdapterObject> = {},
): ModelAdapterObject {
  return {
    apiVersion: "model.aibrix.ai/v1alpha1",
    kind: "ModelAdapter",
    metadata: { name: "sql-lora", namespace: "ns", uid: "uid-a", generation: 1 },
    spec: {
      baseModel: "llama",
      podSelector: { matchLabels: { app: "llama" } },
      artifactURL: "huggingface://org/sql-lora",
      ...spec,
    },
    ...extra,
  } as ModelAdapterObject;
}

function world(pods: Pod[], a: ModelAdapterObject) {
  let now = T0;
  const adapters = new ObjectStore<ModelAdapterObject>();
  adapters.upsert(a);
  const podStore = new ObjectStore<Pod>();
  for (const p of pods) podStore.upsert(p);
  const engines = new FakeEngines();
  const writer = new RecordingWriter(adapters);
  const events: string[] = [];
  const reconciler = new ModelAdapterReconciler({
    adapters,
    pods: podStore,
    services: new ObjectStore<Service>(),
    endpointSlices: new ObjectStore<EndpointSlice>(),
    engines: new EngineView(engines, 9_000, () => now),
    writer,
    recorder: {
      record: (_o, type: EventType, reason: string, _a, note: string) => void events.push(`${type} ${reason}: ${note}`),
    },
    clock: () => now,
    random: () => 0,
  });
  return {
    adapters,
    podStore,
    engines,
    writer,
    events,
    run: () => reconciler.reconcile("ns/sql-lora"),
    reconcile: (key: string) => reconciler.reconcile(key),
    advance: (ms: number) => (now += ms),
  };
}

describe("controllers/model-adapter reconcile", () => {
  it("loads on every candidate when replicas is unset and reports status, Service and EndpointSlice as upstream", async () => {
    const w = world([pod("p2", "10.244.0.2"), pod("p1", "10.244.0.1"), pod("p3", "10.244.0.3")], adapter());
    const result = await w.run();
    expect(w.writer.writes[0]).to.equal("addFinalizer");
    expect(w.engines.held.get("10.244.0.1")?.has("sql-lora")).to.equal(true);
    expect(w.engines.calls.filter((c) => c.startsWith("load"))).to.have.length(3);
    expect(w.writer.status).to.include({ phase: "Running", candidates: 3, desiredReplicas: 3, readyReplicas: 3 });
    expect(w.writer.status?.instances).to.deep.equal(["p1", "p2", "p3"]);
    const ready = w.writer.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready).to.include({ status: "True", reason: "ModelAdapterAvailable" });
    const svc = w.writer.services.at(-1)!;
    expect(svc.spec).to.deep.include({ clusterIP: "None", publishNotReadyAddresses: true });
    expect(svc.metadata?.labels).to.deep.equal({
      "adapter.model.aibrix.ai/name": "sql-lora",
      "model.aibrix.ai/name": "llama",
    });
    expect(svc.metadata?.ownerReferences?.[0]).to.include({
      kind: "ModelAdapter",
      name: "sql-lora",
      uid: "uid-a",
      controller: true,
    });
    const slice = w.writer.slices.at(-1)!;
    expect(slice.metadata?.labels?.["kubernetes.io/service-name"]).to.equal("sql-lora");
    expect(slice.endpoints.map((e) => e.addresses[0])).to.deep.equal(["10.244.0.1", "10.244.0.2", "10.244.0.3"]);
    expect(slice.ports).to.deep.equal([{ name: "http", port: 8000, protocol: "TCP" }]);
    expect(result?.requeueAfterMs).to.equal(10_000);
  });

  it("makes two engine calls per load, and none and no writes in a steady state", async () => {
    const w = world([pod("p1", "10.244.0.1")], adapter());
    await w.run();
    expect(w.engines.calls).to.deep.equal(["list 10.244.0.1", "load 10.244.0.1"]);
    const writes = w.writer.writes.length;
    w.advance(1_000);
    await w.run();
    expect(w.engines.calls, "inside the read TTL nothing is asked again").to.have.length(2);
    expect(w.writer.writes.length, "no status write when nothing changed").to.equal(writes);
  });

  it("reloads on an engine that restarted and lost the adapter, within one resync", async () => {
    const w = world([pod("p1", "10.244.0.1")], adapter());
    await w.run();
    w.engines.held.set("10.244.0.1", new Set(["base"])); // the engine restarted
    w.advance(10_000);
    await w.run();
    expect(w.engines.calls.slice(2)).to.deep.equal(["list 10.244.0.1", "load 10.244.0.1"]);
    expect(w.engines.held.get("10.244.0.1")?.has("sql-lora")).to.equal(true);
    expect(w.writer.status?.phase).to.equal("Running");
  });

  it("never reports Running while the engine does not hold the adapter", async () => {
    const w = world([pod("p1", "10.244.0.1")], adapter());
    await w.run();
    w.engines.held.set("10.244.0.1", new Set(["base"]));
    w.engines.failLoad.set("10.244.0.1", new AdapterLoadError("connect ECONNREFUSED", false));
    w.advance(10_000);
    await w.run();
    expect(w.writer.status?.instances).to.deep.equal([]);
    expect(w.writer.status?.phase).to.equal("Scheduled");
    expect(w.writer.slices.at(-1)?.endpoints).to.deep.equal([]);
  });

  it("with replicas 1 places on the pod with the fewest adapters that has been Ready 5 s, and replaces a pod that went away", async () => {
    const busy = adapter({}, { metadata: { name: "other", namespace: "ns", uid: "o" }, status: { instances: ["p1"] } });
    const w = world(
      [pod("p1", "10.244.0.1"), pod("p2", "10.244.0.2"), pod("p3", "10.244.0.3", { readyAt: T0 - 1_000 })],
      adapter({ replicas: 1 }),
    );
    w.adapters.upsert(busy);
    await w.run();
    expect(w.writer.status?.instances).to.deep.equal(["p2"]);
    expect(w.writer.status).to.include({ desiredReplicas: 1, candidates: 3 });
    w.podStore.remove("ns/p2");
    w.advance(10_000);
    await w.run();
    expect(w.writer.status?.instances).to.have.length(1);
    expect(w.writer.status?.instances?.[0]).to.not.equal("p2");
  });

  it("spreads one-replica adapters reconciled before their statuses come back from the API server", async () => {
    const w = world(
      [pod("p1", "10.244.0.1"), pod("p2", "10.244.0.2"), pod("p3", "10.244.0.3")],
      adapter({ replicas: 1 }),
    );
    // Statuses are written but the cache does not see them yet (the watch lags the writes).
    w.writer.patchStatus = async (_a, status) => void (w.writer.status = status);
    const placed: string[] = [];
    for (const name of ["a1", "a2", "a3", "a4", "a5", "a6"]) {
      const meta = { name, namespace: "ns", uid: name, generation: 1, finalizers: [Adapter.finalizer] };
      w.adapters.upsert(adapter({ replicas: 1 }, { metadata: meta }));
      await w.reconcile(`ns/${name}`);
      placed.push(w.writer.status?.instances?.[0] ?? "");
    }
    const perPod = new Map<string, number>();
    for (const p of placed) perPod.set(p, (perPod.get(p) ?? 0) + 1);
    expect([...perPod.values()], placed.join(",")).to.deep.equal([2, 2, 2]);
  });

  it("with replicas 1 never loads a second copy: not when its status write lags, not after a controller died before writing it", async () => {
    const w = world([pod("p1", "10.244.0.1"), pod("p2", "10.244.0.2")], adapter({ replicas: 1 }));
    w.writer.patchStatus = async (_a, status) => void (w.writer.status = status); // the cache never sees the status
    await w.run();
    await w.run();
    w.advance(20_000);
    await w.run();
    expect(w.engines.calls.filter((c) => c.startsWith("load"))).to.have.length(1);
    // A fresh controller (no memory of placements) finds the copy on the engine instead of loading another.
    const again = world([pod("p1", "10.244.0.1"), pod("p2", "10.244.0.2")], adapter({ replicas: 1 }));
    again.engines.engine("10.244.0.2").add("sql-lora");
    await again.run();
    expect(again.engines.calls.filter((c) => c.startsWith("load"))).to.deep.equal([]);
    expect(again.writer.status?.instances).to.deep.equal(["p2"]);
  });

  it("backs off transient failures 5 s, 10 s, ... and keeps the phase short of Failed", async () => {
    const w = world([pod("p1", "10.244.0.1")], adapter());
    w.engines.failLoad.set("10.244.0.1", new AdapterLoadError("connect ECONNREFUSED 10.244.0.1:8000", false));
    const first = await w.run();
    expect(first?.requeueAfterMs).to.equal(5_000);
    expect(w.writer.status?.phase).to.equal("Scheduled");
    w.advance(2_000);
    await w.run();
    expect(
      w.engines.calls.filter((c) => c.startsWith("load")),
      "not retried before the backoff",
    ).to.have.length(1);
    w.advance(3_000);
    const third = await w.run();
    expect(w.engines.calls.filter((c) => c.startsWith("load"))).to.have.length(2);
    expect(third?.requeueAfterMs).to.equal(10_000);
    expect(w.events.filter((e) => e.startsWith("Warning LoadFailed"))).to.have.length(2);
  });

  it("a permanent error sets Failed with the engine's message, an Event, and no retry until the spec changes", async () => {
    const w = world([pod("p1", "10.244.0.1")], adapter({ artifactURL: "/models/missing" }));
    w.engines.failLoad.set(
      "10.244.0.1",
      new AdapterLoadError(
        "loading adapter sql-lora from /models/missing: HTTP 404: No adapter found for /models/missing",
        true,
        404,
      ),
    );
    await w.run();
    expect(w.writer.status?.phase).to.equal("Failed");
    const ready = w.writer.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready).to.include({ status: "False", reason: "ModelAdapterLoadingError" });
    expect(ready?.message).to.match(/No adapter found for \/models\/missing/);
    expect(w.events[0]).to.match(/^Warning LoadFailed: pod p1: .*not retried until the spec changes/);
    w.advance(600_000);
    await w.run();
    expect(w.engines.calls.filter((c) => c.startsWith("load"))).to.have.length(1);
    // A new generation (the user fixed the URL) starts over.
    w.engines.failLoad.clear();
    const fixed = w.adapters.get("ns/sql-lora")!;
    w.adapters.upsert({
      ...fixed,
      metadata: { ...fixed.metadata, generation: 2 },
      spec: { ...fixed.spec, artifactURL: "/models/ok" },
    });
    await w.run();
    expect(w.writer.status?.phase).to.equal("Running");
  });

  it("an object-store artifact on a pod without the runtime sidecar fails with what to do; with it, loads through the sidecar", async () => {
    const w = world([pod("p1", "10.244.0.1")], adapter({ artifactURL: "s3://bucket/sql-lora" }));
    await w.run();
    expect(w.writer.status?.phase).to.equal("Failed");
    expect(w.writer.status?.conditions?.find((c) => c.type === "Ready")?.message).to.match(/sidecar-injection/);
    const s = world([pod("p1", "10.244.0.1", { sidecar: true })], adapter({ artifactURL: "s3://bucket/sql-lora" }));
    await s.run();
    expect(s.engines.calls).to.include("load 10.244.0.1:sidecar");
    expect(s.writer.status?.phase).to.equal("Running");
  });

  it("is Pending with a reason when no pod matches", async () => {
    const w = world([pod("p1", "10.244.0.1", { labels: { app: "other" } })], adapter());
    await w.run();
    expect(w.writer.status).to.include({ phase: "Pending", candidates: 0, desiredReplicas: 0 });
    expect(w.writer.status?.conditions?.find((c) => c.type === "Ready")?.reason).to.equal("NoCandidatePods");
  });

  it("on delete unloads from every instance and removes the finalizer", async () => {
    const w = world([pod("p1", "10.244.0.1"), pod("p2", "10.244.0.2")], adapter());
    await w.run();
    const live = w.adapters.get("ns/sql-lora")!;
    w.adapters.upsert({ ...live, metadata: { ...live.metadata, deletionTimestamp: new Date(T0).toISOString() } });
    await w.run();
    expect(w.engines.calls.filter((c) => c.startsWith("unload")).sort()).to.deep.equal([
      "unload 10.244.0.1",
      "unload 10.244.0.2",
    ]);
    expect(w.writer.writes.at(-1)).to.equal("removeFinalizer");
    expect(w.engines.held.get("10.244.0.1")?.has("sql-lora")).to.equal(false);
  });
});
