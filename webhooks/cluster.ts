// What the webhooks need to know about the cluster, behind a small interface: unit tests answer from memory, the
// deployed server asks the API server (see kube-cluster.ts). Lookups are cached briefly so admission stays fast.
import { MapEvictor } from "../api/map-evictor.js";

/** Whether a kind is served, and whether it has a `/scale` subresource. */
export interface ResourceFacts {
  served: boolean;
  scalable: boolean;
}

export interface ClusterLookup {
  /** The KVCache object, or undefined when it does not exist. Throws when the cluster cannot be asked. */
  getKVCache(namespace: string, name: string): Promise<Record<string, unknown> | undefined>;
  /** Facts about `apiVersion`/`kind`; throws when the cluster cannot be asked. */
  resourceFacts(apiVersion: string, kind: string): Promise<ResourceFacts>;
}

/** In-memory answers, for tests and for runs without a cluster. */
export class StaticClusterLookup implements ClusterLookup {
  readonly kvCaches = new Map<string, Record<string, unknown>>();
  readonly resources = new Map<string, ResourceFacts>([
    ["apps/v1/Deployment", { served: true, scalable: true }],
    ["apps/v1/StatefulSet", { served: true, scalable: true }],
    ["apps/v1/ReplicaSet", { served: true, scalable: true }],
    ["orchestration.aibrix.ai/v1alpha1/RayClusterFleet", { served: true, scalable: true }],
    ["orchestration.aibrix.ai/v1alpha1/RayClusterReplicaSet", { served: true, scalable: false }],
    ["orchestration.aibrix.ai/v1alpha1/KVCache", { served: true, scalable: false }],
  ]);

  async getKVCache(namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
    return this.kvCaches.get(`${namespace}/${name}`);
  }

  async resourceFacts(apiVersion: string, kind: string): Promise<ResourceFacts> {
    return this.resources.get(`${apiVersion}/${kind}`) ?? { served: false, scalable: false };
  }
}

/** Answers by key, each kept for a time-to-live; at most `MAX_ANSWERS`, oldest out first. */
class RecentAnswers<T> {
  private readonly answers = new Map<string, { at: number; value: Promise<T> }>();
  private readonly evictor = new MapEvictor(this.answers);

  get(key: string, ttl: number, now: () => number, load: () => Promise<T>): Promise<T> {
    const hit = this.answers.get(key);
    if (hit && now() - hit.at < ttl) return hit.value;
    const value = load();
    this.answers.set(key, { at: now(), value });
    // A failed lookup is forgotten at once so the next admission asks again.
    value.catch(() => {
      if (this.answers.get(key)?.value === value) this.answers.delete(key);
    });
    if (this.answers.size > MAX_ANSWERS) this.evictor.evictOldest();
    return value;
  }
}

const MAX_ANSWERS = 10_000;

/** Remembers answers (and failures, briefly) so a burst of admissions costs one API round trip. */
export class CachedClusterLookup implements ClusterLookup {
  private readonly kv = new RecentAnswers<Record<string, unknown> | undefined>();
  private readonly facts = new RecentAnswers<ResourceFacts>();

  constructor(
    private readonly inner: ClusterLookup,
    private readonly ttlMs = { kvCache: 5_000, resources: 60_000 },
    private readonly now: () => number = Date.now,
  ) {}

  getKVCache(namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
    return this.kv.get(`${namespace}/${name}`, this.ttlMs.kvCache, this.now, () =>
      this.inner.getKVCache(namespace, name),
    );
  }

  resourceFacts(apiVersion: string, kind: string): Promise<ResourceFacts> {
    return this.facts.get(`${apiVersion}/${kind}`, this.ttlMs.resources, this.now, () =>
      this.inner.resourceFacts(apiVersion, kind),
    );
  }
}
