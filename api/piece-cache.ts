// Token ids of text pieces, least recently used first out, bounded by an estimate of the memory it holds (not by
// entry count: pieces range from a few dozen characters to whole documents).
import { MapEvictor } from "./map-evictor.js";

/** Estimated bytes of one entry: the key (two bytes a character at most), the ids array, the map's bookkeeping. */
function entryBytes(text: string, ids: readonly number[]): number {
  return 2 * text.length + 8 * ids.length + 96;
}

export class PieceCache {
  private readonly entries = new Map<string, readonly number[]>();
  private readonly evictor = new MapEvictor(this.entries);
  private heldBytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    /** The most bytes (estimated) the cache holds. */
    readonly budgetBytes: number,
  ) {}

  get bytes(): number {
    return this.heldBytes;
  }

  /** The ids of `text` if held (then marked most recently used). */
  get(text: string): readonly number[] | undefined {
    const hit = this.entries.get(text);
    if (!hit) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(text);
    this.entries.set(text, hit);
    return hit;
  }

  /** Holds the ids of `text`, evicting the least recently used entries past the budget. */
  keep(text: string, ids: readonly number[]): void {
    const bytes = entryBytes(text, ids);
    // One piece may take at most a sixteenth of the budget, so a huge one-off text cannot flush everything.
    if (bytes > this.budgetBytes / 16 || this.entries.has(text)) return;
    // A piece cut from a prompt may share the prompt's memory (a V8 sliced string): keep a copy of its own instead,
    // so the budget is what is really held. JSON round-trips every string exactly, lone surrogates included. V8 copies
    // substrings shorter than 13 characters anyway (most words): those need no second copy.
    this.entries.set(text.length < 13 ? text : (JSON.parse(JSON.stringify(text)) as string), ids);
    this.heldBytes += bytes;
    while (this.heldBytes > this.budgetBytes) {
      const [oldest, oldIds] = this.evictor.evictOldest()!;
      this.heldBytes -= entryBytes(oldest, oldIds);
    }
  }

  /** The ids of `text`, from the cache or else from `encode` (then kept). */
  ids(text: string, encode: (text: string) => readonly number[]): readonly number[] {
    const hit = this.get(text);
    if (hit) return hit;
    const ids = encode(text);
    this.keep(text, ids);
    return ids;
  }
}
