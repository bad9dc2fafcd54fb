// `aibrix-ts kvcache-watcher`: watches one KVCache's cache pods and keeps the consistent-hash membership in the
// metadata Redis current. Pod events only mark the ring dirty; one sync runs at a time and covers every event that
// arrived before it, so a burst of pod changes costs one read and at most one write.
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { KVCacheAnnotation } from "../api/labels.js";
import { loadKubeConfig } from "../kube/client.js";
import { SharedInformer } from "../kube/informer.js";
import { KubeClient } from "../kube/request.js";
import { Resources, scoped } from "../kube/resources.js";
import { members, publish, type CachePod } from "./membership.js";
import { WatcherMetrics } from "./metrics.js";
import { serveProbes, type ProbeServer } from "./probes.js";
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
  /** Where /healthz, /readyz and /metrics are served (port 0 picks a free one); none when absent. */
  probes?: { host: string; port: number };
}

export interface RunningWatcher {
  readonly registry: Registry;
  /** Resolves when the pods were listed once and the ring for them is stored. */
  readonly ready: Promise<void>;
  /** Version now stored (0 before the first write). */
  version(): number;
  /** Why the watcher is not ready (what /readyz answers), or undefined when it is. */
  notReady(): string | undefined;
  /** Base URL of /healthz, /readyz and /metrics, when served. */
  readonly probesUrl?: string;
  close(): Promise<void>;
}

/** Default port of /healthz, /readyz and /metrics (the kvcache controller probes it). */
export const WATCHER_PROBE_PORT = 8080;

export const DEFAULT_KEYS = { hpkv: "hpkv_cluster_metadata", infinistore: "kvcache_nodes" } as const;

function redisClient(options: KVCacheWatcherOptions): Redis {
  const url = options.redis.includes("://") ? options.redis : `redis://${options.redis}`;
  return new Redis(url, {
    ...(options.redisPassword ? { password: options.redisPassword } : {}),
    ...(options.redisDatabase !== undefined ? { db: options.redisDatabase } : {}),
    maxRetriesPerRequest: 2,
  });
}

async function startProbes(
  where: KVCacheWatcherOptions["probes"],
  registry: Registry,
  notReady: () => string | undefined,
): Promise<ProbeServer | undefined> {
  if (!where) return undefined;
  return serveProbes({ ...where, registry, notReady }).catch((err: Error) => {
    throw new Error(`probes: cannot listen on ${where.host}:${where.port}: ${err.message}`);
  });
}

export async function startKVCacheWatcher(options: KVCacheWatcherOptions): Promise<RunningWatcher> {
  const client = new KubeClient(loadKubeConfig(options.kubeconfig));
  const selector = `${KVCacheAnnotation.podName}=${options.cluster},${KVCacheAnnotation.podRole}=cache`;
  const pods = new SharedInformer<CachePod>(
    client,
    scoped(Resources.pods, { namespace: options.namespace, labelSelector: selector }),
  );
  const redis = redisClient(options);
  redis.on("error", () => undefined); // reconnects on its own; failed syncs are retried below
  const registry = new Registry();
  const metrics = new WatcherMetrics(registry);
  const retry = options.retryMs ?? { base: 1000, max: 30_000 };
  let version = 0;
  let dirty = false;
  let running: Promise<void> | undefined;
  let closed = false;
  let delay = retry.base;
  let stored = false;
  let lastError: string | undefined;
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
    metrics.synced(version, nodes.length, nodes.length === 0 ? 0 : options.totalSlots, result.changed);
    if (result.changed) options.log?.info({ version, nodes: nodes.map((n) => n.name) }, "cache membership stored");
  };
  const drain = async () => {
    while (dirty && !closed) {
      dirty = false;
      try {
        await syncOnce();
        delay = retry.base;
        stored = true;
        lastError = undefined;
        markReady();
      } catch (err) {
        if (closed) return;
        metrics.failed();
        lastError = String(err);
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
  const notReady = () => {
    if (lastError !== undefined) return `cannot store the cache membership in Redis: ${lastError}`;
    if (!pods.hasSynced()) return "cache pods not listed yet";
    return stored ? undefined : "cache membership not stored yet";
  };
  // Before the informer starts: a port that cannot be bound fails the start with nothing left running.
  const probes = await startProbes(options.probes, registry, notReady).catch((err: Error) => {
    redis.disconnect();
    throw err;
  });

  pods.addHandler({ onAdd: kick, onUpdate: kick, onDelete: kick });
  pods.start();
  void pods.synced.then(kick);

  return {
    registry,
    ready,
    version: () => version,
    notReady,
    probesUrl: probes?.url,
    async close() {
      closed = true;
      wake();
      await probes?.close();
      await pods.stop();
      await running;
      redis.disconnect();
    },
  };
}
