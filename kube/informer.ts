// A shared informer: list, then watch from the list's resourceVersion with bookmarks, keeping a cache and telling
// handlers about adds, updates and deletes. A watch that ends is resumed from the last version seen; "410 Gone"
// (that version was compacted away) relists; errors back off exponentially; stop() ends it for good.
import { setTimeout as sleep } from "node:timers/promises";
import { isGone, KubeApiError, type KubeClient } from "./request.js";
import { collectionPath, objectKey, type KubeList, type KubeObject, type ResourceRef } from "./objects.js";
import { ObjectStore, type IndexFunc } from "./store.js";

export interface EventHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  /** Page size of the list calls (default 500). */
  pageSize?: number;
  /** First and longest pause after a failed list or watch (default 800 ms, 30 s). */
  backoffMs?: { initial: number; max: number };
  /** Told about failed lists and watches (each is retried; default: silent). */
  onError?(err: Error): void;
}

interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T | { kind: "Status"; code?: number; reason?: string; message?: string };
}

/** Thrown inside the loop to force a relist (the watch said 410 Gone). */
class Expired extends Error {}

export class SharedInformer<T extends KubeObject> {
  readonly store: ObjectStore<T>;
  private readonly handlers: EventHandler<T>[] = [];
  private readonly abort = new AbortController();
  private running?: Promise<void>;
  private resourceVersion = "";
  private listedOnce = false;
  private markSynced!: () => void;
  /** Resolves once the first list has been applied to the cache and handlers. */
  readonly synced: Promise<void>;
  /** Lists done so far (the first, and one per 410 or failed resume). */
  lists = 0;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceRef,
    private readonly options: InformerOptions = {},
  ) {
    this.store = new ObjectStore<T>();
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  addIndexers(indexers: Record<string, IndexFunc<T>>): void {
    this.store.addIndexers(indexers);
  }

  /** Adds a handler; objects already cached are replayed to it as adds, as client-go does for late handlers. */
  addHandler(handler: EventHandler<T>): void {
    this.handlers.push(handler);
    if (this.listedOnce) for (const obj of this.store.list()) handler.onAdd?.(obj);
  }

  hasSynced(): boolean {
    return this.listedOnce;
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  /** Starts the list-watch loop once; later calls do nothing. */
  start(): void {
    if (this.stopped) throw new Error(`informer for ${this.resource.plural} was stopped; create a new one`);
    this.running ??= this.loop();
  }

  /** Ends the loop and the open watch; resolves when nothing more will reach handlers. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private path(query: Record<string, string>): string {
    const q = new URLSearchParams(query);
    if (this.resource.labelSelector) q.set("labelSelector", this.resource.labelSelector);
    if (this.resource.fieldSelector) q.set("fieldSelector", this.resource.fieldSelector);
    return `${collectionPath(this.resource)}?${q.toString()}`;
  }

  private async loop(): Promise<void> {
    const { initial, max } = this.options.backoffMs ?? { initial: 800, max: 30_000 };
    let delay = initial;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) await this.list();
        needList = false;
        await this.watch();
        delay = initial; // a watch that ran and ended normally (server timeout) resumes at once
      } catch (err) {
        if (this.stopped) break;
        needList = needList || err instanceof Expired || isGone(err);
        if (err instanceof Expired || isGone(err)) continue; // a relist is the remedy, not a pause
        this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
        await sleep(delay * (0.5 + Math.random() / 2), undefined, { signal: this.abort.signal }).catch(() => undefined);
        delay = Math.min(max, delay * 2);
      }
    }
  }

  private async list(): Promise<void> {
    const items: T[] = [];
    let cont = "";
    let version = "";
    do {
      const query: Record<string, string> = { limit: String(this.options.pageSize ?? 500) };
      if (cont) query.continue = cont;
      const page = await this.client.get<KubeList<T>>(this.path(query), { signal: this.abort.signal });
      items.push(...page.items);
      cont = page.metadata?.continue ?? "";
      version = page.metadata?.resourceVersion ?? version;
    } while (cont && !this.stopped);
    if (this.stopped) return;
    this.lists++;
    this.replace(items);
    this.resourceVersion = version;
    if (!this.listedOnce) {
      this.listedOnce = true;
      this.markSynced();
    }
  }

  /** Makes the cache equal `items`, telling handlers what changed (a relist after a gap is a diff, not a reset). */
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      seen.add(objectKey(obj));
      this.apply(obj);
    }
    for (const key of this.store.keys()) {
      if (seen.has(key)) continue;
      const gone = this.store.remove(key)!;
      for (const h of this.handlers) h.onDelete?.(gone);
    }
  }

  private apply(obj: T): void {
    const previous = this.store.upsert(obj);
    if (!previous) for (const h of this.handlers) h.onAdd?.(obj);
    else if (previous.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
      for (const h of this.handlers) h.onUpdate?.(previous, obj);
    }
  }

  private async watch(): Promise<void> {
    // A server-side timeout spreads watch restarts out, as client-go does (5–10 min).
    const timeoutSeconds = String(300 + Math.floor(Math.random() * 300));
    const path = this.path({
      watch: "true",
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: "true",
      timeoutSeconds,
    });
    await this.client.stream(path, (line) => this.onEvent(line as WatchEvent<T>), this.abort.signal);
  }

  private onEvent(event: WatchEvent<T>): void {
    if (this.stopped) return;
    if (event.type === "ERROR") {
      const status = event.object as { code?: number; reason?: string; message?: string };
      if (status.code === 410) throw new Expired(status.message ?? "resource version expired");
      throw new KubeApiError(status.code ?? 500, status.reason ?? "", `watch error: ${status.message ?? ""}`);
    }
    const obj = event.object as T;
    const version = obj.metadata?.resourceVersion;
    if (event.type === "BOOKMARK") {
      if (version) this.resourceVersion = version;
      return;
    }
    if (event.type === "DELETED") {
      const gone = this.store.remove(objectKey(obj));
      for (const h of this.handlers) h.onDelete?.(gone ?? obj);
    } else {
      this.apply(obj);
    }
    if (version) this.resourceVersion = version;
  }
}
