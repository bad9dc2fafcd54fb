// The KVCache controller on the real control plane, run as `aibrix-ts controllers` with the chart's least-privilege
// ServiceAccount: each backend's objects appear with owner references and their pods run under kwok; the
// membership watcher, acting as the ServiceAccount the controller made for it, keeps the ring in a real Redis as
// the cache scales; deleting a KVCache lets the garbage collector remove everything.
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { startCluster, type LoopbackCluster } from "../../cluster/index.js";
import { installCrds } from "../../cluster/crds.js";
import { startKVCacheWatcher, type RunningWatcher } from "../../kvcache-watcher/index.js";
import { chartControllersKubeconfig, serviceAccountKubeconfig } from "../support/controllers-cluster.js";
import { startControllersProcess } from "../support/controllers-process.js";
import { startRedis, type RunningRedis } from "../support/redis-server.js";
import { loopbackPodCidr, waitFor } from "./env.js";

const NS = "cache";
const SYSTEM = "aibrix-system";
const NAME_LABEL = "kvcache.orchestration.aibrix.ai/name";

interface Obj {
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  status?: {
    phase?: string;
    podIP?: string;
    readyReplicas?: number;
    current?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
}

const KINDS: Record<string, string> = {
  Pod: `/api/v1/namespaces/${NS}/pods`,
  Service: `/api/v1/namespaces/${NS}/services`,
  ServiceAccount: `/api/v1/namespaces/${NS}/serviceaccounts`,
  Deployment: `/apis/apps/v1/namespaces/${NS}/deployments`,
  StatefulSet: `/apis/apps/v1/namespaces/${NS}/statefulsets`,
  Role: `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`,
  RoleBinding: `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`,
};
const KVCACHES = `/apis/orchestration.aibrix.ai/v1alpha1/namespaces/${NS}/kvcaches`;

function kvCache(name: string, backend: string | undefined, replicas: number) {
  return {
    apiVersion: "orchestration.aibrix.ai/v1alpha1",
    kind: "KVCache",
    metadata: {
      name,
      namespace: NS,
      annotations: backend ? { "kvcache.orchestration.aibrix.ai/backend": backend } : {},
    },
    spec: { cache: { replicas, image: "aibrix/kvcache:20241120" } },
  };
}

describe("KVCache controller on the loopback cluster", function () {
  let cluster: LoopbackCluster;
  let controllers: ChildProcess | undefined;
  let redis: RunningRedis | undefined;
  let watcher: RunningWatcher | undefined;
  const api = () => cluster.api;

  /** Objects of `kind` labelled for KVCache `name`, by object name. */
  async function owned(kind: string, name: string): Promise<Map<string, Obj>> {
    const list = await api().get<{ items: Obj[] }>(
      `${KINDS[kind]}?labelSelector=${encodeURIComponent(`${NAME_LABEL}=${name}`)}`,
    );
    return new Map(list.items.map((o) => [o.metadata.name, o]));
  }

  const getKVCache = (name: string) => api().get<Obj>(`${KVCACHES}/${name}`);

  async function waitForObjects(name: string, want: Record<string, string[]>): Promise<void> {
    await waitFor(`objects of ${name}`, 60_000, async () => {
      for (const [kind, names] of Object.entries(want)) {
        const have = await owned(kind, name);
        if (!names.every((n) => have.has(n))) return undefined;
      }
      return true;
    });
    const uid = (await getKVCache(name)).metadata.uid;
    for (const [kind, names] of Object.entries(want)) {
      const have = await owned(kind, name);
      for (const n of names) {
        const ref = have.get(n)!.metadata.ownerReferences?.find((r) => r.controller);
        expect(ref, `${kind}/${n} controller reference`).to.include({ kind: "KVCache", name, uid });
      }
    }
  }

  async function waitForReady(name: string, replicas: number): Promise<Obj> {
    return await waitFor(`${name} status.current=${replicas}`, 90_000, async () => {
      const kv = await getKVCache(name);
      const ready = kv.status?.conditions?.find((c) => c.type === "Ready");
      return kv.status?.current === replicas && ready?.status === "True" ? kv : undefined;
    });
  }

  async function runningPods(name: string, role: string): Promise<Obj[]> {
    return [...(await owned("Pod", name)).values()].filter(
      (p) => p.metadata.labels?.["kvcache.orchestration.aibrix.ai/role"] === role && p.status?.phase === "Running",
    );
  }

  async function deleteAndWaitGone(name: string): Promise<void> {
    await api().delete(`${KVCACHES}/${name}`);
    await waitFor(`everything of ${name} removed`, 90_000, async () => {
      for (const kind of Object.keys(KINDS)) if ((await owned(kind, name)).size > 0) return undefined;
      return true;
    });
  }

  before(async function () {
    this.timeout(60 * 60_000);
    cluster = await startCluster({
      log: process.env.AIBRIX_TS_E2E_LOG ? (l) => console.error(`[cluster] ${l}`) : undefined,
      podCidr: loopbackPodCidr(),
      nodes: [{ name: "gpu-a100", count: 2, gpusPerNode: 8, product: "NVIDIA-A100-SXM4-80GB" }],
    });
    for (const ns of [NS, SYSTEM]) await api().create("/api/v1/namespaces", { metadata: { name: ns } });
    await installCrds(api());
    const kubeconfig = await chartControllersKubeconfig(cluster);
    ({ child: controllers } = await startControllersProcess(kubeconfig, [
      "--no-leader-elect",
      "--controllers",
      "kvcache",
      "--kvcache-watcher-image",
      "aibrix-ts/aibrix-ts:e2e",
    ]));
  });

  after(async function () {
    this.timeout(60_000);
    await watcher?.close();
    await redis?.stop();
    controllers?.kill("SIGKILL");
    await cluster?.stop();
  });

  it("vineyard: etcd, the vineyard Deployment and its RPC Service, owned by the KVCache; the pods run", async function () {
    this.timeout(180_000);
    await api().create(KVCACHES, kvCache("vy", undefined, 2));
    await waitForObjects("vy", {
      Pod: ["vy-etcd-0"],
      Service: ["vy-etcd-0", "vy-etcd-service", "vy-rpc"],
      Deployment: ["vy"],
    });
    const kv = await waitForReady("vy", 2);
    expect(kv.status?.conditions?.find((c) => c.type === "Ready")?.reason).to.equal("CacheReady");
    expect(await runningPods("vy", "cache")).to.have.length(2);
    expect(await runningPods("vy", "metadata")).to.have.length(1);
    await deleteAndWaitGone("vy");
  });

  it("hpkv: Redis, the cache StatefulSet, its headless Service and the watcher with its RBAC; delete removes all", async function () {
    this.timeout(180_000);
    await api().create(KVCACHES, kvCache("hp", "hpkv", 2));
    await waitForObjects("hp", {
      Deployment: ["hp-redis", "hp-kvcache-watcher"],
      StatefulSet: ["hp"],
      Service: ["hp-redis", "hp-headless-service"],
      ServiceAccount: ["hp-kvcache-watcher"],
      Role: ["hp-kvcache-watcher"],
      RoleBinding: ["hp-kvcache-watcher"],
    });
    await waitForReady("hp", 2);
    expect((await runningPods("hp", "cache")).map((p) => p.metadata.name).sort()).to.deep.equal(["hp-0", "hp-1"]);
    expect(await runningPods("hp", "kvwatcher")).to.have.length(1);

    // A new cache image rolls the cache servers; the metadata store keeps running, the same pod throughout.
    const [store] = await runningPods("hp", "metadata");
    await api().mergePatch(`${KVCACHES}/hp`, { spec: { cache: { image: "aibrix/kvcache:20250101" } } });
    await waitFor("the StatefulSet to take the new image", 30_000, async () => {
      const sts = await api().get<{ spec: { template: { spec: { containers: { image: string }[] } } } }>(
        `${KINDS.StatefulSet}/hp`,
      );
      return sts.spec.template.spec.containers[0]!.image === "aibrix/kvcache:20250101" ? true : undefined;
    });
    await waitForReady("hp", 2);
    const stores = await runningPods("hp", "metadata");
    expect(stores.map((p) => p.metadata.uid)).to.deep.equal([store!.metadata.uid]);
    await deleteAndWaitGone("hp");
  });

  it("infinistore: the watcher, as its own ServiceAccount, keeps the ring in Redis as the cache scales", async function () {
    this.timeout(240_000);
    await api().create(KVCACHES, kvCache("inf", "infinistore", 2));
    await waitForObjects("inf", { StatefulSet: ["inf"], ServiceAccount: ["inf-kvcache-watcher"] });
    await waitForReady("inf", 2);
    // The watcher pod under kwok runs no process: run the watcher here with that pod's identity and a real Redis.
    redis = await startRedis();
    watcher = await startKVCacheWatcher({
      kubeconfig: await serviceAccountKubeconfig(cluster, NS, "inf-kvcache-watcher"),
      namespace: NS,
      cluster: "inf",
      redis: `127.0.0.1:${redis.port}`,
      key: "kvcache_nodes",
      port: 12345,
      totalSlots: 4096,
      virtualNodeCount: 100,
      probes: { host: "127.0.0.1", port: 0 },
    });
    await watcher.ready;
    // The kubelet's view: ready once the ring is stored; Prometheus sees the ring it stored.
    expect((await fetch(`${watcher.probesUrl}/readyz`)).status).to.equal(200);
    const client = new Redis(redis.url);
    try {
      const ring = async () =>
        JSON.parse((await client.get("kvcache_nodes")) ?? "{}") as {
          version?: number;
          nodes?: { name: string; addr: string; port: number; slots: { start: number; end: number }[] }[];
        };
      const slotCount = (r: Awaited<ReturnType<typeof ring>>) =>
        (r.nodes ?? [])
          .flatMap((n) => n.slots)
          .reduce((sum, s) => sum + (s.end >= s.start ? s.end - s.start + 1 : 4096 - s.start + s.end + 1), 0);
      const two = await waitFor("a ring of 2 pods", 30_000, async () => {
        const r = await ring();
        return r.nodes?.length === 2 ? r : undefined;
      });
      const pods = await runningPods("inf", "cache");
      expect(two.nodes!.map((n) => [n.name, n.addr, n.port]).sort()).to.deep.equal(
        pods.map((p) => [p.metadata.name, p.status!.podIP, 12345]).sort(),
      );
      expect(slotCount(two)).to.equal(4096);
      const v2 = two.version!;
      const metrics = await (await fetch(`${watcher.probesUrl}/metrics`)).text();
      expect(metrics).to.match(new RegExp(`^aibrix_kvcache_cluster_version ${v2}$`, "m"));
      expect(metrics).to.match(/^aibrix_kvcache_cluster_nodes 2$/m);

      // A pod change that is not a membership change leaves the version alone.
      await api().mergePatch(`${KINDS.Pod}/inf-0`, { metadata: { labels: { touched: "yes" } } });
      await new Promise((r) => setTimeout(r, 1500));
      expect((await ring()).version).to.equal(v2);

      await api().mergePatch(`${KVCACHES}/inf`, { spec: { cache: { replicas: 3 } } });
      const three = await waitFor("a ring of 3 pods", 60_000, async () => {
        const r = await ring();
        return r.nodes?.length === 3 ? r : undefined;
      });
      expect(three.version).to.equal(v2 + 1);
      expect(slotCount(three)).to.equal(4096);
      await waitForReady("inf", 3);

      await api().mergePatch(`${KVCACHES}/inf`, { spec: { cache: { replicas: 1 } } });
      const one = await waitFor("a ring of 1 pod", 60_000, async () => {
        const r = await ring();
        return r.nodes?.length === 1 ? r : undefined;
      });
      expect(one.nodes![0]!.slots).to.deep.equal([{ start: 0, end: 4095 }]);
    } finally {
      client.disconnect();
    }
    await deleteAndWaitGone("inf");
  });
});
