import { expect } from "chai";
import { kvCacheEnv } from "../../../../webhooks/kvcache-env.js";
import {
  SPEC_HASH,
  type DesiredObject,
  type KVCacheObject,
  OWNED_KINDS,
  type OwnedKind,
  type OwnedObject,
} from "../../../../controllers/kvcache/objects.js";
import { KVCacheReconciler, type KVCacheWriter } from "../../../../controllers/kvcache/reconcile.js";
import type { EventType } from "../../../../kube/events.js";
import { objectKey } from "../../../../kube/objects.js";
import { ObjectStore } from "../../../../kube/store.js";

/** Applies writes to the stores the reconciler reads, as the informers would echo them. */
class Cluster implements KVCacheWriter {
  readonly kvCaches = new ObjectStore<KVCacheObject>();
  readonly owned = Object.fromEntries(OWNED_KINDS.map((k) => [k, new ObjectStore<OwnedObject>()])) as Record<
    OwnedKind,
    ObjectStore<OwnedObject>
  >;
  readonly writes: string[] = [];
  readonly events: string[] = [];
  secrets = new Set<string>();

  async ensure(kind: OwnedKind, cached: OwnedObject | undefined, want: DesiredObject) {
    if (
      cached &&
      (want.createOnly || cached.metadata?.annotations?.[SPEC_HASH] === want.object.metadata?.annotations?.[SPEC_HASH])
    ) {
      return "unchanged" as const;
    }
    this.writes.push(`${cached ? "update" : "create"} ${want.object.kind} ${want.object.metadata?.name}`);
    this.owned[kind].upsert({ ...want.object, status: cached?.status });
    return cached ? ("updated" as const) : ("created" as const);
  }
  async patchStatus(kv: KVCacheObject, status: NonNullable<KVCacheObject["status"]>) {
    this.writes.push(`status current=${status.current}`);
    this.kvCaches.upsert({ ...kv, status });
  }
  async secretExists(namespace: string, name: string) {
    return this.secrets.has(`${namespace}/${name}`);
  }
  record(_: unknown, type: EventType, reason: string) {
    this.events.push(`${type} ${reason}`);
  }
  names(kind: OwnedKind): string[] {
    return this.owned[kind]
      .list()
      .map((o) => o.metadata?.name ?? "")
      .sort();
  }
  setReady(kind: "deployments" | "statefulSets", name: string, ready: number) {
    const obj = this.owned[kind].get(`ns/${name}`)!;
    this.owned[kind].upsert({ ...obj, status: { readyReplicas: ready } });
  }
}

function kvCache(name: string, annotations: Record<string, string>, spec: KVCacheObject["spec"] = {}): KVCacheObject {
  return {
    apiVersion: "orchestration.aibrix.ai/v1alpha1",
    kind: "KVCache",
    metadata: { name, namespace: "ns", uid: `uid-${name}`, generation: 1, annotations },
    spec,
  };
}

function setup(kv: KVCacheObject) {
  const cluster = new Cluster();
  cluster.kvCaches.upsert(kv);
  const reconciler = new KVCacheReconciler({
    kvCaches: cluster.kvCaches,
    owned: cluster.owned,
    writer: cluster,
    recorder: cluster,
    options: { watcherImage: "aibrix-ts/aibrix-ts:test" },
    clock: () => Date.parse("2026-01-01T00:00:00Z"),
  });
  return { cluster, reconcile: () => reconciler.reconcile(objectKey(kv)) };
}

const allOwned = (cluster: Cluster) => OWNED_KINDS.flatMap((k) => cluster.owned[k].list());

describe("kvcache reconcile", () => {
  it("vineyard (the default backend): etcd member + services, the vineyard Deployment and its RPC Service", async () => {
    const { cluster, reconcile } = setup(kvCache("vy", {}, { cache: { replicas: 2 } }));
    await reconcile();
    expect(cluster.names("pods")).to.deep.equal(["vy-etcd-0"]);
    expect(cluster.names("services")).to.deep.equal(["vy-etcd-0", "vy-etcd-service", "vy-rpc"]);
    expect(cluster.names("deployments")).to.deep.equal(["vy"]);
    expect(cluster.names("statefulSets")).to.deep.equal([]);
    const rpc = cluster.owned.services.get("ns/vy-rpc")!;
    expect((rpc.spec as { ports: { port: number }[] }).ports[0]!.port).to.equal(9600);
    // What the webhook tells engines matches the Service the controller made.
    const env = kvCacheEnv(cluster.kvCaches.get("ns/vy")! as unknown as Record<string, unknown>, "ns").env;
    expect(env.find((e) => e.name === "AIBRIX_LLM_KV_CACHE_RPC_ENDPOINT")?.value).to.equal("vy-rpc.ns.svc:9600");
    const deployment = cluster.owned.deployments.get("ns/vy")!;
    expect((deployment.spec as { replicas: number }).replicas).to.equal(2);
    for (const obj of allOwned(cluster)) {
      expect(obj.metadata?.ownerReferences, obj.metadata?.name).to.deep.equal([
        {
          apiVersion: "orchestration.aibrix.ai/v1alpha1",
          kind: "KVCache",
          name: "vy",
          uid: "uid-vy",
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(obj.metadata?.labels?.["kvcache.orchestration.aibrix.ai/name"]).to.equal("vy");
    }
  });

  it("vineyard with three etcd members lists all three in each member's initial cluster", async () => {
    const { cluster, reconcile } = setup(kvCache("vy", {}, { metadata: { etcd: { runtime: { replicas: 3 } } } }));
    await reconcile();
    expect(cluster.names("pods")).to.deep.equal(["vy-etcd-0", "vy-etcd-1", "vy-etcd-2"]);
    const command = (cluster.owned.pods.get("ns/vy-etcd-1")!.spec as { containers: { command: string[] }[] })
      .containers[0]!.command;
    expect(command[command.indexOf("--initial-cluster") + 1]).to.equal(
      "vy-etcd-0=http://vy-etcd-0:2380,vy-etcd-1=http://vy-etcd-1:2380,vy-etcd-2=http://vy-etcd-2:2380",
    );
  });

  for (const [backend, port, key] of [
    ["infinistore", 12345, "kvcache_nodes"],
    ["hpkv", 9600, "hpkv_cluster_metadata"],
  ] as const) {
    it(`${backend}: Redis, cache StatefulSet behind a headless Service, watcher with its RBAC`, async () => {
      const { cluster, reconcile } = setup(
        kvCache("kc", { "kvcache.orchestration.aibrix.ai/backend": backend }, { cache: { replicas: 3 } }),
      );
      await reconcile();
      expect(cluster.names("deployments")).to.deep.equal(["kc-kvcache-watcher", "kc-redis"]);
      expect(cluster.names("statefulSets")).to.deep.equal(["kc"]);
      expect(cluster.names("services")).to.deep.equal(["kc-headless-service", "kc-redis"]);
      expect(cluster.names("serviceAccounts")).to.deep.equal(["kc-kvcache-watcher"]);
      expect(cluster.names("roles")).to.deep.equal(["kc-kvcache-watcher"]);
      expect(cluster.names("roleBindings")).to.deep.equal(["kc-kvcache-watcher"]);
      const headless = cluster.owned.services.get("ns/kc-headless-service")!.spec as Record<string, unknown>;
      expect(headless.clusterIP).to.equal("None");
      expect((headless.ports as { port: number }[])[0]!.port).to.equal(port);
      const sts = cluster.owned.statefulSets.get("ns/kc")!.spec as Record<string, unknown>;
      expect(sts.serviceName).to.equal("kc-headless-service");
      expect(sts.replicas).to.equal(3);
      const watcher = cluster.owned.deployments.get("ns/kc-kvcache-watcher")!.spec as {
        template: {
          spec: {
            serviceAccountName: string;
            containers: {
              args: string[];
              env: { name: string; value?: string }[];
              ports: { name: string; containerPort: number }[];
              readinessProbe: { httpGet: { path: string; port: string } };
              livenessProbe: { httpGet: { path: string; port: string } };
            }[];
          };
        };
      };
      const container = watcher.template.spec.containers[0]!;
      expect(watcher.template.spec.serviceAccountName).to.equal("kc-kvcache-watcher");
      expect(container.args.slice(0, 3)).to.deep.equal(["kvcache-watcher", "--kvcache-backend", backend]);
      expect(container.args[container.args.indexOf("--cluster-meta-key") + 1]).to.equal(key);
      expect(container.env.find((e) => e.name === "REDIS_ADDR")?.value).to.equal("kc-redis:6379");
      // The kubelet probes the port the watcher is told to serve on.
      const http = container.ports.find((p) => p.name === "http")!;
      expect(container.args[container.args.indexOf("--port") + 1]).to.equal(String(http.containerPort));
      expect(container.readinessProbe.httpGet).to.deep.equal({ path: "/readyz", port: "http" });
      expect(container.livenessProbe.httpGet).to.deep.equal({ path: "/healthz", port: "http" });
      // The engines read the same key from the same Redis the watcher writes.
      const env = kvCacheEnv(cluster.kvCaches.get("ns/kc")! as unknown as Record<string, unknown>, "ns").env;
      expect(env.find((e) => e.name === "AIBRIX_KV_CACHE_OL_META_SERVICE_CLUSTER_META_KEY")?.value).to.equal(key);
      expect(env.find((e) => e.name === "AIBRIX_KV_CACHE_OL_META_SERVICE_URL")?.value).to.equal(
        "redis://kc-redis.ns.svc:6379",
      );
    });
  }

  it("the legacy mode annotation distributed means infinistore", async () => {
    const { cluster, reconcile } = setup(kvCache("kc", { "kvcache.orchestration.aibrix.ai/mode": "distributed" }));
    await reconcile();
    expect(cluster.names("statefulSets")).to.deep.equal(["kc"]);
    const port = (cluster.owned.services.get("ns/kc-headless-service")!.spec as { ports: { port: number }[] }).ports[0];
    expect(port!.port).to.equal(12345);
  });

  it("a steady state writes nothing; status follows the cache workload's ready replicas", async () => {
    const { cluster, reconcile } = setup(
      kvCache("kc", { "kvcache.orchestration.aibrix.ai/backend": "hpkv" }, { cache: { replicas: 2 } }),
    );
    expect(await reconcile()).to.deep.equal({ requeueAfterMs: 10_000 });
    expect(cluster.kvCaches.get("ns/kc")!.status).to.include({ current: 0 });
    cluster.writes.length = 0;
    await reconcile();
    expect(cluster.writes).to.deep.equal([]);
    cluster.setReady("statefulSets", "kc", 2);
    expect(await reconcile()).to.equal(undefined);
    const status = cluster.kvCaches.get("ns/kc")!.status!;
    expect(status.current).to.equal(2);
    expect(status.conditions?.[0]).to.include({ type: "Ready", status: "True", reason: "CacheReady" });
    expect(cluster.writes).to.deep.equal(["status current=2"]);
  });

  it("a cache image change rolls the cache StatefulSet but never the metadata Redis", async () => {
    const kv = kvCache("kc", { "kvcache.orchestration.aibrix.ai/backend": "infinistore" });
    const { cluster, reconcile } = setup(kv);
    await reconcile();
    cluster.writes.length = 0;
    cluster.kvCaches.upsert({ ...cluster.kvCaches.get("ns/kc")!, spec: { cache: { image: "mirror/kvcache:2" } } });
    await reconcile();
    expect(cluster.writes.filter((w) => !w.startsWith("status"))).to.deep.equal(["update StatefulSet kc"]);
  });

  it("an external Redis: no Redis is run; a missing password Secret is reported and re-checked", async () => {
    const spec = {
      metadata: { redis: { externalConnection: { address: "redis.shared:6379", passwordSecretRef: "redis-pw" } } },
    };
    const { cluster, reconcile } = setup(kvCache("kc", { "kvcache.orchestration.aibrix.ai/backend": "hpkv" }, spec));
    expect(await reconcile()).to.deep.equal({ requeueAfterMs: 10_000 });
    expect(allOwned(cluster)).to.have.length(0);
    const condition = cluster.kvCaches.get("ns/kc")!.status!.conditions![0]!;
    expect(condition).to.include({ status: "False", reason: "MetadataSecretMissing" });
    expect(condition.message).to.contain("passwordSecretRef").and.contain("ns/redis-pw");
    expect(cluster.events).to.include("Warning MetadataSecretMissing");

    cluster.secrets.add("ns/redis-pw");
    await reconcile();
    expect(cluster.names("deployments")).to.deep.equal(["kc-kvcache-watcher"]);
    const env = (
      cluster.owned.deployments.get("ns/kc-kvcache-watcher")!.spec as {
        template: { spec: { containers: { env: Record<string, unknown>[] }[] } };
      }
    ).template.spec.containers[0]!.env;
    expect(env.find((e) => e.name === "REDIS_ADDR")).to.deep.equal({ name: "REDIS_ADDR", value: "redis.shared:6379" });
    expect(env.find((e) => e.name === "REDIS_PASSWORD")).to.deep.equal({
      name: "REDIS_PASSWORD",
      valueFrom: { secretKeyRef: { name: "redis-pw", key: "password" } },
    });
  });

  it("a malformed annotation is a condition naming it and the rule, and nothing is created", async () => {
    const { cluster, reconcile } = setup(
      kvCache("kc", {
        "kvcache.orchestration.aibrix.ai/backend": "hpkv",
        "hpkv.kvcache.orchestration.aibrix.ai/rdma-port": "70000",
      }),
    );
    await reconcile();
    expect(allOwned(cluster)).to.have.length(0);
    const condition = cluster.kvCaches.get("ns/kc")!.status!.conditions![0]!;
    expect(condition.reason).to.equal("InvalidAnnotation");
    expect(condition.message).to.contain("hpkv.kvcache.orchestration.aibrix.ai/rdma-port").and.contain("1 to 65535");
  });

  it("an unsupported backend is reported, not crashed on", async () => {
    const { cluster, reconcile } = setup(kvCache("kc", { "kvcache.orchestration.aibrix.ai/backend": "mooncake" }));
    await reconcile();
    expect(cluster.kvCaches.get("ns/kc")!.status!.conditions![0]).to.include({ reason: "UnsupportedBackend" });
  });

  it("a full pod template override keeps the selector labels", async () => {
    const template = { metadata: { labels: { team: "a" } }, spec: { containers: [{ name: "custom", image: "x" }] } };
    const { cluster, reconcile } = setup(kvCache("vy", {}, { cache: { template } }));
    await reconcile();
    const spec = cluster.owned.deployments.get("ns/vy")!.spec as {
      selector: { matchLabels: Record<string, string> };
      template: { metadata: { labels: Record<string, string> }; spec: unknown };
    };
    expect(spec.template.metadata.labels).to.include({ team: "a", ...spec.selector.matchLabels });
    expect(spec.template.spec).to.deep.equal(template.spec);
  });
});
