// Token ids of text pieces, least recently used first out (to within half the cache), bounded by an estimate of the
// memory it holds (not by entry count: pieces range from a few dozen characters to whole documents).
import { MapEvictor } from "./map-evictor.js";
import { ownCopy } from "./strings.js";

interface Entry<V> {
  /** The key it is stored under (a copy of its own): a refresh re-sets this one, never the lookup's text. */
  key: string;
  ids: V;
  /** The cache's clock when the entry last moved to the young end. */
  movedAt: number;
}

/** Token ids (or other per-token values, `elementBytes` each) of text pieces. */
export class PieceCache<V extends readonly unknown[] = readonly number[]> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly evictor = new MapEvictor(this.entries);
  private heldBytes = 0;
  /** Counts moves to the young end (inserts and refreshes): how far an entry has aged since its own move. */
  private clock = 0;
  hits = 0;
  misses = 0;

  constructor(
    /** The most bytes (estimated) the cache holds. */
    readonly budgetBytes: number,
    /** Estimated bytes of one element of a value (8 for an id in an array). */
    private readonly elementBytes = 8,
  ) {}

  /**
   * Estimated bytes of one entry: the key (two bytes a character at most), the value, and 240 for the entry object,
   * the array's and string's headers and the map's slots (measured on V8: about 195 bytes besides the key's characters
   * and the ids, more while evictions leave deleted slots in the map; a test holds a full cache's heap to its budget).
   */
  private entryBytes(text: string, ids: V): number {
    return 2 * text.length + this.elementBytes * ids.length + 240;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** The ids of `text` if held (then marked recently used). */
  get(text: string): V | undefined {
    const hit = this.entries.get(text);
    if (!hit) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Moved to the young end only once it has aged past half the entries: a hot piece (a word, a shared document's
    // chunk) then costs one lookup, not a lookup, a delete and a set, and is still far from being evicted.
    if (this.clock - hit.movedAt > this.entries.size / 2) {
      // Re-set under the held key: the lookup's text may be a slice that keeps a whole prompt alive.
      this.entries.delete(hit.key);
      hit.movedAt = ++this.clock;
      this.entries.set(hit.key, hit);
    }
    return hit.ids;
  }

  /** Holds the ids of `text`, evicting the least recently used entries past the budget. */
  keep(text: string, ids: V): void {
    const bytes = this.entryBytes(text, ids);
    // One piece may take at most a sixteenth of the budget, so a huge one-off text cannot flush everything.
    if (bytes > this.budgetBytes / 16 || this.entries.has(text)) return;
    // A piece cut from a prompt may share the prompt's memory: keep a copy of its own, so the budget is what is held.
    const key = ownCopy(text);
    this.entries.set(key, { key, ids, movedAt: ++this.clock });
    this.heldBytes += bytes;
    while (this.heldBytes > this.budgetBytes) {
      const [oldest, old] = this.evictor.evictOldest()!;
      this.heldBytes -= this.entryBytes(oldest, old.ids);
    }
  }

  /** The ids of `text`, from the cache or else from `encode` (then kept). */
  ids(text: string, encode: (text: string) => V): V {
    const hit = this.get(text);
    if (hit) return hit;
    const ids = encode(text);
    this.keep(text, ids);
    return ids;
  }
}
