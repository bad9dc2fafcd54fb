// What the webhooks need to know about the cluster, behind a small interface: unit tests answer from memory, the
// deployed server asks the API server (see kube-cluster.ts). Lookups are cached briefly so admission stays fast.

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

/** Remembers answers (and failures, briefly) so a burst of admissions costs one API round trip. */
export class CachedClusterLookup implements ClusterLookup {
  private readonly kv = new Map<string, { at: number; value: Promise<Record<string, unknown> | undefined> }>();
  private readonly facts = new Map<string, { at: number; value: Promise<ResourceFacts> }>();

  constructor(
    private readonly inner: ClusterLookup,
    private readonly ttlMs = { kvCache: 5_000, resources: 60_000 },
    private readonly now: () => number = Date.now,
  ) {}

  getKVCache(namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
    return this.cached(this.kv, `${namespace}/${name}`, this.ttlMs.kvCache, () =>
      this.inner.getKVCache(namespace, name),
    );
  }

  resourceFacts(apiVersion: string, kind: string): Promise<ResourceFacts> {
    return this.cached(this.facts, `${apiVersion}/${kind}`, this.ttlMs.resources, () =>
      this.inner.resourceFacts(apiVersion, kind),
    );
  }

  private cached<T>(
    map: Map<string, { at: number; value: Promise<T> }>,
    key: string,
    ttl: number,
    load: () => Promise<T>,
  ) {
    const hit = map.get(key);
    if (hit && this.now() - hit.at < ttl) return hit.value;
    const value = load();
    map.set(key, { at: this.now(), value });
    // A failed lookup is forgotten at once so the next admission asks again.
    value.catch(() => {
      if (map.get(key)?.value === value) map.delete(key);
    });
    if (map.size > 10_000) map.delete(map.keys().next().value as string);
    return value;
  }
}
