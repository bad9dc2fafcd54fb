import { expect } from "chai";
import { CachedClusterLookup, StaticClusterLookup, type ClusterLookup } from "../../../webhooks/cluster.js";
import { kvCacheEnv } from "../../../webhooks/kvcache-env.js";

describe("webhooks: cluster lookups", () => {
  it("keeps at most 10,000 answers, the oldest out first", async () => {
    const asked: string[] = [];
    const inner: ClusterLookup = {
      async getKVCache(namespace, name) {
        asked.push(`${namespace}/${name}`);
        return undefined;
      },
      async resourceFacts() {
        return { served: true, scalable: true };
      },
    };
    const cached = new CachedClusterLookup(inner, { kvCache: 60_000, resources: 60_000 }, () => 0);
    for (let i = 0; i <= 10_000; i++) await cached.getKVCache("ns", `kvc-${i}`);
    expect(asked).to.have.length(10_001);
    await cached.getKVCache("ns", "kvc-1");
    await cached.getKVCache("ns", "kvc-10000");
    expect(asked).to.have.length(10_001); // still held
    await cached.getKVCache("ns", "kvc-0");
    expect(asked.at(-1), "the oldest answer went first").to.equal("ns/kvc-0");
  });

  it("caches answers for their TTL, and forgets failures at once", async () => {
    let now = 0;
    let calls = 0;
    let fail = true;
    const inner: ClusterLookup = {
      async getKVCache(namespace, name) {
        calls++;
        if (fail) throw new Error("apiserver down");
        return { metadata: { name, namespace } };
      },
      async resourceFacts() {
        calls++;
        return { served: true, scalable: true };
      },
    };
    const cached = new CachedClusterLookup(inner, { kvCache: 1_000, resources: 60_000 }, () => now);
    let error: unknown;
    try {
      await cached.getKVCache("ns", "kvc");
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).to.equal("apiserver down");
    await new Promise((r) => setImmediate(r)); // let the failure handler run
    fail = false;
    expect((await cached.getKVCache("ns", "kvc"))?.metadata).to.deep.equal({ name: "kvc", namespace: "ns" });
    expect(calls).to.equal(2); // the failure was not cached
    await cached.getKVCache("ns", "kvc");
    expect(calls).to.equal(2); // within the TTL: cached
    now = 1_500;
    await cached.getKVCache("ns", "kvc");
    expect(calls).to.equal(3); // expired: asked again
    await cached.resourceFacts("apps/v1", "Deployment");
    await cached.resourceFacts("apps/v1", "Deployment");
    expect(calls).to.equal(4);
  });

  it("the static lookup knows the scalable built-in and AIBrix kinds", async () => {
    const s = new StaticClusterLookup();
    expect(await s.resourceFacts("apps/v1", "StatefulSet")).to.deep.equal({ served: true, scalable: true });
    expect(await s.resourceFacts("orchestration.aibrix.ai/v1alpha1", "RayClusterFleet")).to.deep.equal({
      served: true,
      scalable: true,
    });
    expect(await s.resourceFacts("example.com/v1", "Widget")).to.deep.equal({ served: false, scalable: false });
  });

  it("maps the legacy mode annotation to a backend when no backend annotation is set", () => {
    const kv = (annotations: Record<string, string>) => ({
      metadata: { name: "c", annotations },
      status: { current: 1 },
    });
    const distributed = kvCacheEnv(kv({ "kvcache.orchestration.aibrix.ai/mode": "distributed" }), "ns");
    expect(distributed.env).to.deep.include({ name: "AIBRIX_KV_CACHE_OL_L2_CACHE_BACKEND", value: "infinistore" });
    const centralized = kvCacheEnv(kv({ "kvcache.orchestration.aibrix.ai/mode": "centralized" }), "ns");
    expect(centralized.env).to.deep.include({ name: "AIBRIX_LLM_KV_CACHE_RPC_ENDPOINT", value: "c-rpc.ns.svc:9600" });
    const linked = kvCacheEnv(
      kv({
        "kvcache.orchestration.aibrix.ai/backend": "infinistore",
        "infinistore.kvcache.orchestration.aibrix.ai/link-type": "IB",
      }),
      "ns",
    );
    expect(linked.env).to.deep.include({ name: "AIBRIX_KV_CACHE_OL_INFINISTORE_LINK_TYPE", value: "IB" });
    expect(linked.warnings).to.deep.equal([]);
    const unknown = kvCacheEnv(kv({ "kvcache.orchestration.aibrix.ai/backend": "redis" }), "ns");
    expect(unknown.env).to.deep.equal([]);
    expect(unknown.warnings.join()).to.match(/unsupported backend "redis"/);
  });
});
