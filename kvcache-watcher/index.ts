// `aibrix-ts kvcache-watcher`: watches one KVCache's cache pods and keeps the consistent-hash membership in the
// metadata Redis current. Pod events only mark the ring dirty; one sync runs at a time and covers every event that
// arrived before it, so a burst of pod changes costs one read and at most one write.
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { KVCacheAnnotation } from "../api/labels.js";
import { loadKubeConfig } from "../kube/client.js";
import { SharedInformer } from "../kube/informer.js";
import { serveProbes, type ProbeServer } from "../kube/probes.js";
import { KubeClient } from "../kube/request.js";
import { Resources, scoped } from "../kube/resources.js";
import { members, publish, type CachePod } from "./membership.js";
import { WatcherMetrics } from "./metrics.js";
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
  const redis = new Redis(url, {
    ...(options.redisPassword ? { password: options.redisPassword } : {}),
    ...(options.redisDatabase !== undefined ? { db: options.redisDatabase } : {}),
    maxRetriesPerRequest: 2,
  });
  redis.on("error", () => undefined); // reconnects on its own; failed syncs are retried by the watcher
  return redis;
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

/**
 * Stores the membership whenever the cache pods change: one write at a time, changes that land mid-write folded into
 * the next, failures retried with doubling delays; ready once the first write went through.
 */
class MembershipSync {
  version = 0;
  readonly ready: Promise<void>;
  private dirty = false;
  private running: Promise<void> | undefined;
  private closed = false;
  private delay: number;
  private stored = false;
  private lastError: string | undefined;
  private wake = () => undefined as void;
  private markReady!: () => void;

  constructor(
    private readonly pods: SharedInformer<CachePod>,
    private readonly redis: Redis,
    private readonly metrics: WatcherMetrics,
    private readonly options: KVCacheWatcherOptions,
    private readonly retry: { base: number; max: number },
  ) {
    this.delay = retry.base;
    this.ready = new Promise<void>((resolve) => (this.markReady = resolve));
  }

  /** Why the watcher is not ready, or undefined when it is. */
  notReady(): string | undefined {
    if (this.lastError !== undefined) return `cannot store the cache membership in Redis: ${this.lastError}`;
    if (!this.pods.hasSynced()) return "cache pods not listed yet";
    return this.stored ? undefined : "cache membership not stored yet";
  }

  /** Something changed: store the membership again once the pods are listed. */
  kick(): void {
    this.dirty = true;
    if (!this.pods.hasSynced()) return;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      if (this.dirty && !this.closed) this.kick(); // an event that landed after the loop's last check
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
    await this.running;
  }

  private async syncOnce(): Promise<void> {
    const o = this.options;
    const nodes = clusterNodes(members(this.pods.store.list(), o.cluster), o.port, o.totalSlots, o.virtualNodeCount);
    const result = await publish(this.redis, o.key, nodes);
    this.version = result.version;
    this.metrics.synced(this.version, nodes.length, nodes.length === 0 ? 0 : o.totalSlots, result.changed);
    if (result.changed)
      o.log?.info({ version: this.version, nodes: nodes.map((n) => n.name) }, "cache membership stored");
  }

  private async drain(): Promise<void> {
    while (this.dirty && !this.closed) {
      this.dirty = false;
      try {
        await this.syncOnce();
        this.delay = this.retry.base;
        this.stored = true;
        this.lastError = undefined;
        this.markReady();
      } catch (err) {
        if (this.closed) return;
        this.metrics.failed();
        this.lastError = String(err);
        this.options.log?.warn({ err: String(err), retryInMs: this.delay }, "cannot store cache membership; retrying");
        this.dirty = true;
        await this.pause();
        this.delay = Math.min(this.retry.max, this.delay * 2);
      }
    }
  }

  /** Waits out the retry delay, or less if the watcher is closed meanwhile. */
  private pause(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.delay);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
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
  const metrics = new WatcherMetrics(registry);
  const sync = new MembershipSync(pods, redis, metrics, options, options.retryMs ?? { base: 1000, max: 30_000 });
  const notReady = () => sync.notReady();
  // Before the informer starts: a port that cannot be bound fails the start with nothing left running.
  const probes = await startProbes(options.probes, registry, notReady).catch((err: Error) => {
    redis.disconnect();
    throw err;
  });
  const kick = () => sync.kick();
  pods.addHandler({ onAdd: kick, onUpdate: kick, onDelete: kick });
  pods.start();
  void pods.synced.then(kick);

  return {
    registry,
    ready: sync.ready,
    version: () => sync.version,
    notReady,
    probesUrl: probes?.url,
    async close() {
      await sync.close();
      await probes?.close();
      await pods.stop();
      redis.disconnect();
    },
  };
}
