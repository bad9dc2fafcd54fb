// The KVCache reconciler: from the cached KVCache and its cached owned objects, make every object its backend needs
// exist as asked, then report ready cache replicas and a Ready condition. Reads come from caches; a steady state
// writes nothing; deletion is the garbage collector's (every object carries a controller owner reference).
import type { ReconcileResult } from "../../kube/controller.js";
import type { EventRecorder } from "../../kube/events.js";
import { isDeleting, objectKey, setCondition, type Condition } from "../../kube/objects.js";
import type { ObjectReader } from "../../kube/store.js";
import { desiredCacheReplicas, distributedObjects, externalConnection, vineyardObjects } from "./backends.js";
import type { BackendOptions } from "./backends.js";
import type { DesiredObject, KVCacheObject, OwnedKind, OwnedObject } from "./objects.js";
import { backendOf, distributedParams, KVCacheSpecError } from "./settings.js";

type Status = NonNullable<KVCacheObject["status"]>;

export interface KVCacheWriter {
  /** Creates `want` when `cached` is absent, replaces it when it differs (createOnly: never replaces). */
  ensure(
    kind: OwnedKind,
    cached: OwnedObject | undefined,
    want: DesiredObject,
  ): Promise<"created" | "updated" | "unchanged">;
  patchStatus(kv: KVCacheObject, status: Status): Promise<void>;
  secretExists(namespace: string, name: string): Promise<boolean>;
}

export interface KVCacheDeps {
  kvCaches: ObjectReader<KVCacheObject>;
  owned: Record<OwnedKind, ObjectReader<OwnedObject>>;
  writer: KVCacheWriter;
  recorder: EventRecorder;
  options: BackendOptions;
  clock?(): number;
}

export const READY = "Ready";
/** While not ready, status is re-read this often (workload status changes also re-queue through `owns`). */
const NOT_READY_RECHECK_MS = 10_000;

export class KVCacheReconciler {
  constructor(private readonly deps: KVCacheDeps) {}

  reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const kv = this.deps.kvCaches.get(key);
    if (!kv || isDeleting(kv)) return;
    try {
      const desired = await this.desired(kv);
      for (const want of desired) await this.ensure(kv, want);
      return await this.report(kv);
    } catch (err) {
      if (!(err instanceof KVCacheSpecError)) throw err;
      this.deps.recorder.record(kv, "Warning", err.reason, "Reconcile", err.message);
      await this.writeStatus(kv, 0, { status: "False", reason: err.reason, message: err.message });
      // A spec error is fixed by an edit (which re-queues); a missing Secret may appear on its own.
      return err.reason === "MetadataSecretMissing" ? { requeueAfterMs: NOT_READY_RECHECK_MS } : undefined;
    }
  };

  private async desired(kv: KVCacheObject): Promise<DesiredObject[]> {
    const annotations = kv.metadata?.annotations ?? {};
    const backend = backendOf(annotations);
    if (backend === "vineyard") return vineyardObjects(kv);
    const external = externalConnection(kv, "redis");
    if (external?.passwordSecretRef) {
      const namespace = kv.metadata?.namespace ?? "";
      if (!(await this.deps.writer.secretExists(namespace, external.passwordSecretRef))) {
        throw new KVCacheSpecError(
          "MetadataSecretMissing",
          `spec.metadata.redis.externalConnection.passwordSecretRef: Secret ${namespace}/${external.passwordSecretRef} ` +
            `does not exist; create it with the Redis password under key "password"`,
        );
      }
    }
    return distributedObjects(kv, distributedParams(backend, annotations), this.deps.options);
  }

  private async ensure(kv: KVCacheObject, want: DesiredObject): Promise<void> {
    const cached = this.deps.owned[want.kind].get(objectKey(want.object));
    const result = await this.deps.writer.ensure(want.kind, cached, want);
    if (result !== "unchanged") {
      const reason = result === "created" ? "Created" : "Updated";
      this.deps.recorder.record(
        kv,
        "Normal",
        reason,
        reason,
        `${result} ${want.object.kind} ${want.object.metadata?.name}`,
      );
    }
  }

  private cacheWorkload(kv: KVCacheObject): OwnedObject | undefined {
    const key = objectKey(kv);
    let backend: string;
    try {
      backend = backendOf(kv.metadata?.annotations ?? {});
    } catch {
      return undefined;
    }
    return backend === "vineyard" ? this.deps.owned.deployments.get(key) : this.deps.owned.statefulSets.get(key);
  }

  private async report(kv: KVCacheObject): Promise<ReconcileResult | void> {
    const ready = this.cacheWorkload(kv)?.status?.readyReplicas ?? 0;
    const desired = desiredCacheReplicas(kv);
    const isReady = ready >= desired;
    await this.writeStatus(kv, ready, {
      status: isReady ? "True" : "False",
      reason: isReady ? "CacheReady" : "CacheNotReady",
      message: `${ready} of ${desired} cache replicas ready`,
    });
    return isReady ? undefined : { requeueAfterMs: NOT_READY_RECHECK_MS };
  }

  private async writeStatus(
    kv: KVCacheObject,
    current: number,
    ready: Pick<Condition, "status" | "reason" | "message">,
  ): Promise<void> {
    const now = new Date(this.deps.clock?.() ?? Date.now());
    const conditions = setCondition(
      kv.status?.conditions as Condition[] | undefined,
      { type: READY, ...ready, observedGeneration: kv.metadata?.generation },
      now,
    );
    const status: Status = { current, conditions };
    if (JSON.stringify(status) === JSON.stringify({ current: kv.status?.current, conditions: kv.status?.conditions })) {
      return;
    }
    await this.deps.writer.patchStatus(kv, status);
  }
}
