// Approximate prefix index: learns from the router's own decisions which endpoint last received which prompt
// blocks. Bounded LRU of block hashes per model; entries expire after a TTL so forgotten caches stop attracting work.
//
// Block hashes are chained (a block's hash names its whole prefix), and the index keeps what it holds prefix-closed:
// an endpoint that holds a block, within some age, holds every block before it within that age. Two rules keep it
// so. Times: an insert gives the blocks it routes one time, never newer than the blocks before them. LRU order: an
// insert walks the prompt from its last block to its first, so a prompt's shallower blocks are never older in the LRU
// than its deeper ones, and eviction shortens chains from their deep end (as engines do: a shared system prompt
// outlives the questions that followed it). A match is then a binary search for the depth at which an endpoint stops
// holding the prompt, a few lookups instead of one per block.
//
// A prompt whose start the same endpoint was routed less than TIME_REFRESH_INTERVAL_MS ago (a tenant's document at a
// high rate) leaves the blocks it was routed that recently as they are and gives the rest the oldest of their times:
// a time may be that much older than the last routing, never younger.
// The one exception to prefix-closure: a block moved to the LRU's young end less than LRU_MOVE_INTERVAL_MS ago is not
// moved again, so a deeper block inserted just after can be younger by up to that interval; a chain can lose a
// shallow block first only when the whole LRU turns over within that interval, and a match may then read past the
// hole.
import { MapEvictor } from "../../api/map-evictor.js";

export interface PrefixIndexOptions {
  /** Most block hashes remembered per model (LRU). */
  maxBlocks: number;
  ttlMs: number;
}

/** A block moved to the LRU's young end this recently keeps its place when inserted again; its times still refresh. */
const LRU_MOVE_INTERVAL_MS = 1000;

/** Times are refreshed at most this often for a prompt start routed again to the same endpoint (see above). */
const TIME_REFRESH_INTERVAL_MS = 100;

export const defaultPrefixIndexOptions: PrefixIndexOptions = { maxBlocks: 200_000, ttlMs: 20 * 60_000 };

/**
 * A block's holders: endpoint id → when it was last routed this block (ms). The move time rides on the Map itself, so
 * a block costs one object to reach, not two.
 */
class BlockHolders extends Map<string, number> {
  /** When the block last moved to the LRU's young end (ms). */
  movedAt: number;

  constructor(now: number) {
    super();
    this.movedAt = now;
  }

  /** Sets `id`'s time; whether `id` is new here. */
  hold(id: string, now: number): boolean {
    const before = this.size;
    this.set(id, now);
    return this.size > before;
  }
}

interface ModelTable {
  blocks: Map<bigint, BlockHolders>;
  evictor: MapEvictor<bigint, BlockHolders>;
}

export class PrefixIndex {
  /** model → its table (hash → holders), whose Map order is LRU order, and its evictor. */
  private models = new Map<string, ModelTable>();
  /** endpoint id → (hash, id) entries it holds, live or expired but not yet swept. */
  private held = new Map<string, number>();
  /** Told about every insert (e.g. to replicate it to other router replicas); must not throw. */
  onInsert?: (model: string, hashes: readonly bigint[], id: string, now: number) => void;

  constructor(private readonly opts: PrefixIndexOptions = defaultPrefixIndexOptions) {}

  /**
   * For each endpoint id in `ids`, the number of leading blocks of `hashes` it is believed to hold (absent when
   * none). `maxAgeMs` (at most the TTL) counts only blocks routed that recently.
   */
  matchDepths(
    model: string,
    hashes: readonly bigint[],
    ids: readonly string[],
    now: number,
    maxAgeMs = this.opts.ttlMs,
  ): Map<string, number> {
    return this.match(model, hashes, ids, now, [Math.min(maxAgeMs, this.opts.ttlMs)])[0]!;
  }

  /**
   * `matchDepths` over the TTL and over the last `recentMs` at once: `recent` never holds a depth deeper than `all`
   * does, since a block routed recently was routed within the TTL, so its search starts from the `all` depth.
   */
  matchDepthsAndRecent(
    model: string,
    hashes: readonly bigint[],
    ids: readonly string[],
    now: number,
    recentMs: number,
  ): { all: Map<string, number>; recent: Map<string, number> } {
    const ttl = this.opts.ttlMs;
    const [all, recent] = this.match(model, hashes, ids, now, [ttl, Math.min(recentMs, ttl)]);
    return { all: all!, recent: recent! };
  }

  /** The depths per age in `maxAges` (longest first): per endpoint, a binary search in each age's depth. */
  private match(
    model: string,
    hashes: readonly bigint[],
    ids: readonly string[],
    now: number,
    maxAges: readonly number[],
  ): Map<string, number>[] {
    const depths = maxAges.map(() => new Map<string, number>());
    const table = this.models.get(model)?.blocks;
    const first = hashes.length > 0 ? table?.get(hashes[0]!) : undefined;
    if (!table || !first) return depths;
    for (const id of ids) {
      // Most endpoints hold nothing of a given prompt: the first block's holders rule them out in one lookup.
      const t = first.get(id);
      if (t === undefined) continue;
      let depth = hashes.length;
      for (let a = 0; a < maxAges.length && now - t <= maxAges[a]!; a++) {
        depth = heldDepth(table, hashes, id, now - maxAges[a]!, depth);
        depths[a]!.set(id, depth);
      }
    }
    return depths;
  }

  /** Record that `id` now holds every block of `hashes`. */
  insert(model: string, hashes: readonly bigint[], id: string, now: number): void {
    let entry = this.models.get(model);
    if (!entry) {
      const blocks = new Map<bigint, BlockHolders>();
      this.models.set(model, (entry = { blocks, evictor: new MapEvictor(blocks) }));
    }
    const table = entry.blocks;
    const { from, time } = freshStart(table, hashes, id, now);
    let added = 0;
    // Deepest first: the prompt's first block ends youngest in the LRU (see the file comment).
    for (let i = hashes.length - 1; i >= from; i--) {
      const h = hashes[i]!;
      const existing = table.get(h);
      const block = existing ?? new BlockHolders(now);
      if (block.hold(id, time)) added++;
      if (existing) {
        // A prompt repeated often (a tenant's document) then costs one lookup per block, not a delete and a set.
        if (now - existing.movedAt < LRU_MOVE_INTERVAL_MS) continue;
        table.delete(h);
        existing.movedAt = now;
      }
      table.set(h, block);
    }
    if (added > 0) this.held.set(id, (this.held.get(id) ?? 0) + added);
    while (table.size > this.opts.maxBlocks) {
      const [, evicted] = entry.evictor.evictOldest()!;
      for (const holder of evicted.keys()) this.release(holder, 1);
    }
    this.onInsert?.(model, hashes, id, now);
  }

  /** Drop expired entries (called periodically). */
  sweep(now: number): void {
    for (const { blocks: table } of this.models.values()) {
      for (const [h, holders] of table) {
        for (const [id, t] of holders) {
          if (now - t > this.opts.ttlMs) {
            holders.delete(id);
            this.release(id, 1);
          }
        }
        if (holders.size === 0) table.delete(h);
      }
    }
  }

  /** Forget an endpoint (it left the fleet). */
  forget(id: string): void {
    for (const { blocks } of this.models.values()) for (const holders of blocks.values()) holders.delete(id);
    this.held.delete(id);
  }

  /** Blocks `id` holds over all models (expired ones count until the next sweep). */
  blocksOf(id: string): number {
    return this.held.get(id) ?? 0;
  }

  private release(id: string, n: number): void {
    const left = (this.held.get(id) ?? 0) - n;
    if (left > 0) this.held.set(id, left);
    else this.held.delete(id);
  }

  size(model: string): number {
    return this.models.get(model)?.blocks.size ?? 0;
  }
}

/**
 * Where `insert` starts and the time it gives: the blocks `id` was routed less than TIME_REFRESH_INTERVAL_MS ago are
 * skipped, and the rest take the deepest skipped block's time (the oldest of them).
 */
function freshStart(
  table: Map<bigint, BlockHolders>,
  hashes: readonly bigint[],
  id: string,
  now: number,
): { from: number; time: number } {
  const since = now - TIME_REFRESH_INTERVAL_MS + 1;
  const t = hashes.length > 0 ? table.get(hashes[0]!)?.get(id) : undefined;
  if (t === undefined || t < since) return { from: 0, time: now };
  const from = heldDepth(table, hashes, id, since, hashes.length);
  return { from, time: table.get(hashes[from - 1]!)!.get(id)! };
}

/**
 * How many leading blocks of `hashes`, at most `upTo`, `id` holds with a time at or after `since`, given that it holds
 * the first one so. Prefix-closure makes "holds block d − 1" true up to the depth and false after it.
 */
function heldDepth(
  table: Map<bigint, BlockHolders>,
  hashes: readonly bigint[],
  id: string,
  since: number,
  upTo: number,
): number {
  const holds = (depth: number): boolean => {
    const t = table.get(hashes[depth - 1]!)?.get(id);
    return t !== undefined && t >= since;
  };
  // The whole prompt (a repeat) is the common case, and one lookup decides it.
  if (holds(upTo)) return upTo;
  let lo = 1;
  let hi = upTo;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (holds(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
