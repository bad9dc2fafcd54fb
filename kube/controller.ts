// A controller: "for this kind, owning those, watching these" → reconcile(key). Events from the primary kind queue
// its key; events from owned kinds queue their controlling owner; watched kinds map an object to the keys it
// affects. Workers drain the queue one key at a time per key; errors back off per key; `requeueAfter` re-checks.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { EventHandler } from "./informer.js";
import type { ObjectReader } from "./store.js";
import { controllerOf, objectKey, type KubeObject, type ResourceRef } from "./objects.js";
import { WorkQueue, type WorkQueueMetrics } from "./workqueue.js";

/** "apps" of "apps/v1"; "" for the core group's "v1". */
const groupOf = (apiVersion: string): string => (apiVersion.includes("/") ? apiVersion.split("/")[0]! : "");

export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds (a level check, not an error). */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

/** What a controller needs of an informer (any SharedInformer, whatever its object type). */
export interface Source {
  readonly resource: ResourceRef;
  readonly store: ObjectReader<KubeObject>;
  readonly synced: Promise<void>;
  addHandler(handler: EventHandler<KubeObject>): void;
}

export interface Watch {
  informer: Source;
  /** The keys of primary objects an event on `obj` affects. */
  map(obj: KubeObject): readonly string[];
}

export interface ControllerSpec {
  name: string;
  /** The primary kind: its objects' keys are what `reconcile` receives. */
  for: Source;
  /** Kinds whose objects carry a controller owner reference to a primary object of kind `for`. */
  owns?: Source[];
  watches?: Watch[];
  reconcile: Reconciler;
  /** Concurrent reconciles (different keys; one key is never reconciled twice at once). Default 1. */
  workers?: number;
  /** Re-queue every primary key this often (a level check against missed or external changes). */
  resyncMs?: number;
  /** Backoff of failed reconciles (default 5 ms doubling to 1000 s, as controller-runtime). */
  backoffMs?: { base: number; max: number };
  onError?(key: string, err: Error): void;
}

/** controller_runtime_* metrics under controller-runtime's names. */
export class ControllerMetrics {
  readonly reconciles: Counter<"controller" | "result">;
  readonly errors: Counter<"controller">;
  readonly time: Histogram<"controller">;
  readonly activeWorkers: Gauge<"controller">;
  readonly maxConcurrent: Gauge<"controller">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.reconciles = new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"],
      registers,
    });
    this.errors = new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    });
    this.time = new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.activeWorkers = new Gauge({
      name: "controller_runtime_active_workers",
      help: "Number of currently used workers per controller",
      labelNames: ["controller"],
      registers,
    });
    this.maxConcurrent = new Gauge({
      name: "controller_runtime_max_concurrent_reconciles",
      help: "Maximum number of concurrent reconciles per controller",
      labelNames: ["controller"],
      registers,
    });
  }
}

export class Controller {
  readonly queue: WorkQueue;
  private workers: Promise<void>[] = [];
  private resyncTimer?: NodeJS.Timeout;

  constructor(
    private readonly spec: ControllerSpec,
    private readonly metrics?: { controller: ControllerMetrics; queue: WorkQueueMetrics },
  ) {
    this.queue = new WorkQueue(spec.name, { backoffMs: spec.backoffMs, metrics: metrics?.queue });
    const enqueue = (obj: KubeObject) => this.queue.add(objectKey(obj));
    spec.for.addHandler({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o), onDelete: enqueue });
    const primaryKind = spec.for.resource.kind;
    const primaryGroup = spec.for.resource.group;
    for (const owned of spec.owns ?? []) {
      const toOwner = (obj: KubeObject) => {
        const owner = controllerOf(obj);
        if (!owner || owner.kind !== primaryKind || groupOf(owner.apiVersion) !== primaryGroup) return;
        const ns = obj.metadata?.namespace;
        this.queue.add(ns && spec.for.resource.namespaced ? `${ns}/${owner.name}` : owner.name);
      };
      owned.addHandler({
        onAdd: toOwner,
        onUpdate: (old, obj) => {
          toOwner(old);
          toOwner(obj);
        },
        onDelete: toOwner,
      });
    }
    for (const w of spec.watches ?? []) {
      const map = (obj: KubeObject) => {
        for (const key of w.map(obj)) this.queue.add(key);
      };
      w.informer.addHandler({
        onAdd: map,
        onUpdate: (old, obj) => {
          map(old);
          map(obj);
        },
        onDelete: map,
      });
    }
  }

  get name(): string {
    return this.spec.name;
  }

  /** Starts the workers (after the caches it reads have synced) and the periodic resync. */
  async start(): Promise<void> {
    const informers = [this.spec.for, ...(this.spec.owns ?? []), ...(this.spec.watches ?? []).map((w) => w.informer)];
    await Promise.all(informers.map((i) => i.synced));
    const n = this.spec.workers ?? 1;
    this.metrics?.controller.maxConcurrent.labels(this.name).set(n);
    this.workers = Array.from({ length: n }, () => this.work());
    if (this.spec.resyncMs) {
      this.resyncTimer = setInterval(() => {
        for (const obj of this.spec.for.store.list()) this.queue.add(objectKey(obj));
      }, this.spec.resyncMs);
      this.resyncTimer.unref();
    }
  }

  /** Stops handing out keys and waits for reconciles in flight to finish. */
  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    this.queue.shutDown();
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
      await this.process(key);
      this.queue.done(key);
    }
  }

  private async process(key: string): Promise<void> {
    const m = this.metrics?.controller;
    m?.activeWorkers.labels(this.name).inc();
    const endTimer = m?.time.labels(this.name).startTimer();
    try {
      const result = await this.spec.reconcile(key);
      if (result?.requeueAfterMs !== undefined) {
        this.queue.forget(key);
        this.queue.addAfter(key, result.requeueAfterMs);
        m?.reconciles.labels(this.name, "requeue_after").inc();
      } else {
        this.queue.forget(key);
        m?.reconciles.labels(this.name, "success").inc();
      }
    } catch (err) {
      m?.reconciles.labels(this.name, "error").inc();
      m?.errors.labels(this.name).inc();
      this.spec.onError?.(key, err instanceof Error ? err : new Error(String(err)));
      this.queue.addRateLimited(key);
    } finally {
      endTimer?.();
      m?.activeWorkers.labels(this.name).dec();
    }
  }
}
