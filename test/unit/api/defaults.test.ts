import { expect } from "chai";
import { kvCacheBackend, withDefaults } from "../../../api/index.js";
import { fixture } from "./fixtures.js";

describe("api/withDefaults", () => {
  it("fills schema defaults without changing the input", () => {
    const adapter = fixture("local-lora");
    const before = structuredClone(adapter);
    const out = withDefaults(adapter);
    expect(adapter).to.deep.equal(before);
    expect(out.spec.schedulerName).to.equal("default");
  });

  it("defaults a fleet to RollingUpdate 25%/25% so template changes roll out", () => {
    const fleet = fixture("deepseek-fleet");
    delete fleet.spec.strategy;
    delete fleet.spec.replicas;
    const out = withDefaults(fleet);
    expect(out.spec.strategy).to.deep.equal({
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" },
    });
    expect(out.spec.replicas).to.equal(1);
    expect(out.spec.revisionHistoryLimit).to.equal(10);
    expect(out.spec.progressDeadlineSeconds).to.equal(600);
  });

  it("keeps a Recreate strategy as it is", () => {
    const fleet = fixture("deepseek-fleet");
    fleet.spec.strategy = { type: "Recreate" };
    expect(withDefaults(fleet).spec.strategy).to.deep.equal({ type: "Recreate" });
  });

  it("fills KVCache cache runtime, mode and service type", () => {
    const kv = fixture("kvcache-vineyard");
    delete kv.spec.cache;
    delete kv.spec.mode;
    delete kv.spec.service.type;
    const out = withDefaults(kv);
    expect(out.spec.cache).to.deep.equal({
      image: "aibrix/kvcache:20241120",
      imagePullPolicy: "IfNotPresent",
      replicas: 1,
      env: [],
    });
    expect(out.spec.mode).to.equal("distributed");
    expect(out.spec.service.type).to.equal("ClusterIP");
  });

  it("never writes a backend name into the legacy mode annotation", () => {
    const kv = fixture("kvcache-hpkv");
    const out = withDefaults(kv);
    expect(out.metadata.annotations["kvcache.orchestration.aibrix.ai/mode"]).to.equal(undefined);
    expect(kvCacheBackend(out)).to.equal("hpkv");
  });

  it("does not add PodAutoscaler runtime defaults (they are not stored)", () => {
    const pa = fixture("gateway-hpa");
    const out = withDefaults(pa);
    expect(out.spec.observeWindowSeconds).to.equal(undefined);
    expect(out.spec.panicWindowSeconds).to.equal(undefined);
  });

  it("returns objects of other kinds unchanged", () => {
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: {} };
    expect(withDefaults(pod)).to.deep.equal(pod);
  });
});
