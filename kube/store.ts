// An informer's cache: objects by key, plus named indexes (pods by node, by label value, ...) kept current on
// every change so a reconciler's lookups never scan the whole cache.
import { objectKey, type KubeObject } from "./objects.js";

/** Index values for one object (an object may sit under several values, or none). */
export type IndexFunc<T> = (obj: T) => readonly string[];

/** Indexes every informer has. */
export const NAMESPACE_INDEX = "namespace";
const namespaceIndex: IndexFunc<KubeObject> = (o) => (o.metadata?.namespace ? [o.metadata.namespace] : []);

/** An index by the value of one label (objects without it are not indexed). */
export function labelIndex(label: string): IndexFunc<KubeObject> {
  return (o) => {
    const v = o.metadata?.labels?.[label];
    return v === undefined ? [] : [v];
  };
}

/** Read access to a cache: what reconcilers are given. */
export interface ObjectReader<T extends KubeObject> {
  get(key: string): T | undefined;
  list(): T[];
  /** Objects whose index `index` has `value`. */
  byIndex(index: string, value: string): T[];
  readonly size: number;
}

export class ObjectStore<T extends KubeObject> implements ObjectReader<T> {
  private readonly items = new Map<string, T>();
  private readonly indexers = new Map<string, IndexFunc<T>>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();

  constructor(indexers: Record<string, IndexFunc<T>> = {}) {
    this.addIndexers({ [NAMESPACE_INDEX]: namespaceIndex as IndexFunc<T>, ...indexers });
  }

  /** Adds indexes (also after objects are in: they are indexed at once). Re-adding a name keeps the first. */
  addIndexers(indexers: Record<string, IndexFunc<T>>): void {
    for (const [name, fn] of Object.entries(indexers)) {
      if (this.indexers.has(name)) continue;
      this.indexers.set(name, fn);
      this.indices.set(name, new Map());
      for (const [key, obj] of this.items) this.indexOne(name, fn, key, obj);
    }
  }

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  byIndex(index: string, value: string): T[] {
    const idx = this.indices.get(index);
    if (!idx) throw new Error(`no index "${index}" on this cache; add it with addIndexers before reading`);
    return [...(idx.get(value) ?? [])].map((k) => this.items.get(k)!).filter(Boolean);
  }

  /** Stores `obj`, returning the previous version under its key. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    const previous = this.items.get(key);
    if (previous) this.unindex(key, previous);
    this.items.set(key, obj);
    for (const [name, fn] of this.indexers) this.indexOne(name, fn, key, obj);
    return previous;
  }

  remove(key: string): T | undefined {
    const previous = this.items.get(key);
    if (!previous) return undefined;
    this.unindex(key, previous);
    this.items.delete(key);
    return previous;
  }

  private indexOne(name: string, fn: IndexFunc<T>, key: string, obj: T): void {
    const idx = this.indices.get(name)!;
    for (const value of fn(obj)) {
      let keys = idx.get(value);
      if (!keys) idx.set(value, (keys = new Set()));
      keys.add(key);
    }
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const value of fn(obj)) {
        const keys = idx.get(value);
        keys?.delete(key);
        if (keys?.size === 0) idx.delete(value);
      }
    }
  }
}
