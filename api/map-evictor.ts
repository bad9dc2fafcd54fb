// Evicting a Map's oldest entries (insertion order) in amortised constant time.
//
// A Map deletes by leaving a hole in its backing table until the table is next rebuilt, and a fresh iterator walks
// from the table's start past every hole. An LRU that evicts with `map.keys().next()` and refreshes by delete and
// re-set therefore pays, for each eviction, for every eviction and refresh since the last rebuild: a 200,000-block
// prefix index spent 20 ms per request that way once full. One iterator kept across evictions passes each hole once,
// and, as Map iterators are live, still sees entries set after it was created. (Until its next step it keeps the
// backing store it last walked alive: at most one old table per evictor.)

export class MapEvictor<K, V> {
  private cursor: MapIterator<[K, V]> | undefined;

  constructor(private readonly map: Map<K, V>) {}

  /** Deletes the map's oldest entry and returns it; undefined when the map is empty. */
  evictOldest(): [K, V] | undefined {
    // A finished iterator stays finished even when entries are added later, so one more try with a new one.
    for (let attempt = 0; attempt < 2; attempt++) {
      this.cursor ??= this.map.entries();
      const next = this.cursor.next();
      if (!next.done) {
        this.map.delete(next.value[0]);
        return next.value;
      }
      this.cursor = undefined;
    }
    return undefined;
  }
}
