// `aibrix-ts kvcache-watcher`: watches one KVCache's cache pods and keeps the consistent-hash membership in the
// metadata Redis current. Pod events only mark the ring dirty; one sync runs at a time and covers every event that
// arrived before it, so a burst of pod changes costs one read and at most one write.
import { Redis } from "ioredis";
import { Gauge, Registry } from "prom-client";
import { KVCacheAnnotation } from "../api/labels.js";
import { loadKubeConfig } from "../kube/client.js";
import { SharedInformer } from "../kube/informer.js";
import { KubeClient } from "../kube/request.js";
import { Resources, scoped } from "../kube/resources.js";
import { members, publish, type CachePod } from "./membership.js";
import { clusterNodes } from "./ring.js";

export interface KVCacheWatcherOptions {
  kubeconfig?: string;
  /** Namespace of the KVCache and its pods. */
  namespace: string;
  /** The KVCache's name (its pods carry it in kvcache.orchestration.aibrix.ai/name). */
  cluster: string;
  /** Redis URL (`redis://host:port/db`) or `host:port`. */
  redis: string;
  redisPassword?: string;
  redisDatabase?: number;
  /** Key the ring is stored under (hpkv: hpkv_cluster_metadata, infinistore: kvcache_nodes). */
  key: string;
  /** Port written for every node (the cache server's RDMA port). */
  port: number;
  totalSlots: number;
  virtualNodeCount: number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** Retry delay after a failed write (default 1 s doubling to 30 s). */
  retryMs?: { base: number; max: number };
}

export interface RunningWatcher {
  readonly registry: Registry;
  /** Resolves when the pods were listed once and the ring for them is stored. */
  readonly ready: Promise<void>;
  /** Version now stored (0 before the first write). */
  version(): number;
  close(): Promise<void>;
}

export const DEFAULT_KEYS = { hpkv: "hpkv_cluster_metadata", infinistore: "kvcache_nodes" } as const;

function redisClient(options: KVCacheWatcherOptions): Redis {
  const url = options.redis.includes("://") ? options.redis : `redis://${options.redis}`;
  const redis = new Redis(url, {
    ...(options.redisPassword ? { password: options.redisPassword } : {}),
    ...(options.redisDatabase !== undefined ? { db: options.redisDatabase } : {}),
    maxRetriesPerRequest: 2,
  });
  redis.on("error", () => undefined); // reconnects on its own; failed syncs are retried by the watcher
  return redis;
}

function membershipGauges(registry: Registry): { versionGauge: Gauge; nodesGauge: Gauge } {
  const versionGauge = new Gauge({
    name: "aibrix_kvcache_cluster_version",
    help: "Version of the cache membership stored in the metadata store",
    registers: [registry],
  });
  const nodesGauge = new Gauge({
    name: "aibrix_kvcache_cluster_nodes",
    help: "Cache pods in the stored membership",
    registers: [registry],
  });
  return { versionGauge, nodesGauge };
}

export async function startKVCacheWatcher(options: KVCacheWatcherOptions): Promise<RunningWatcher> {
  const client = new KubeClient(loadKubeConfig(options.kubeconfig));
  const selector = `${KVCacheAnnotation.podName}=${options.cluster},${KVCacheAnnotation.podRole}=cache`;
  const pods = new SharedInformer<CachePod>(
    client,
    scoped(Resources.pods, { namespace: options.namespace, labelSelector: selector }),
  );
  const redis = redisClient(options);
  const registry = new Registry();
  const { versionGauge, nodesGauge } = membershipGauges(registry);
  const retry = options.retryMs ?? { base: 1000, max: 30_000 };
  let version = 0;
  let dirty = false;
  let running: Promise<void> | undefined;
  let closed = false;
  let delay = retry.base;
  let wake = () => undefined as void;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const syncOnce = async () => {
    const nodes = clusterNodes(
      members(pods.store.list(), options.cluster),
      options.port,
      options.totalSlots,
      options.virtualNodeCount,
    );
    const result = await publish(redis, options.key, nodes);
    version = result.version;
    versionGauge.set(version);
    nodesGauge.set(nodes.length);
    if (result.changed) options.log?.info({ version, nodes: nodes.map((n) => n.name) }, "cache membership stored");
  };
  const drain = async () => {
    while (dirty && !closed) {
      dirty = false;
      try {
        await syncOnce();
        delay = retry.base;
        markReady();
      } catch (err) {
        if (closed) return;
        options.log?.warn({ err: String(err), retryInMs: delay }, "cannot store cache membership; retrying");
        dirty = true;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        delay = Math.min(retry.max, delay * 2);
      }
    }
  };
  const kick = () => {
    dirty = true;
    if (!pods.hasSynced()) return;
    running ??= drain().finally(() => {
      running = undefined;
      if (dirty && !closed) kick(); // an event that landed after the loop's last check
    });
  };
  pods.addHandler({ onAdd: kick, onUpdate: kick, onDelete: kick });
  pods.start();
  void pods.synced.then(kick);

  return {
    registry,
    ready,
    version: () => version,
    async close() {
      closed = true;
      wake();
      await pods.stop();
      await running;
      redis.disconnect();
    },
  };
}
