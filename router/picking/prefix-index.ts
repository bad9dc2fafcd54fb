// Approximate prefix index: learns from the router's own decisions which endpoint last received which prompt
// blocks. Bounded LRU of block hashes per model; entries expire after a TTL so forgotten caches stop attracting work.
import { MapEvictor } from "../../api/map-evictor.js";

export interface PrefixIndexOptions {
  /** Most block hashes remembered per model (LRU). */
  maxBlocks: number;
  ttlMs: number;
}

/** A block re-inserted by the same endpoint within this long keeps its place in the LRU order. */
const LRU_MOVE_INTERVAL_MS = 1000;

export const defaultPrefixIndexOptions: PrefixIndexOptions = { maxBlocks: 200_000, ttlMs: 20 * 60_000 };

interface ModelTable {
  blocks: Map<bigint, Map<string, number>>;
  evictor: MapEvictor<bigint, Map<string, number>>;
}

export class PrefixIndex {
  /** model → its table (hash → (endpoint id → last access ms)), whose Map order is LRU order, and its evictor. */
  private models = new Map<string, ModelTable>();
  /** endpoint id → (hash, id) entries it holds, live or expired but not yet swept. */
  private held = new Map<string, number>();
  /** Told about every insert (e.g. to replicate it to other router replicas); must not throw. */
  onInsert?: (model: string, hashes: readonly bigint[], id: string, now: number) => void;

  constructor(private readonly opts: PrefixIndexOptions = defaultPrefixIndexOptions) {}

  /**
   * For each endpoint id in `ids`, the number of leading blocks of `hashes` it is believed to hold. Walks the
   * chain, narrowing to endpoints that still hold every block so far. `maxAgeMs` (at most the TTL) counts only
   * blocks routed that recently.
   */
  matchDepths(
    model: string,
    hashes: readonly bigint[],
    ids: readonly string[],
    now: number,
    maxAgeMs = this.opts.ttlMs,
  ): Map<string, number> {
    return this.walk(model, hashes, ids, now, [Math.min(maxAgeMs, this.opts.ttlMs)])[0]!;
  }

  /**
   * `matchDepths` over the TTL and over the last `recentMs` in one walk of the chain: `recent` never holds a depth
   * deeper than `all` does, since a block routed recently was routed within the TTL.
   */
  matchDepthsAndRecent(
    model: string,
    hashes: readonly bigint[],
    ids: readonly string[],
    now: number,
    recentMs: number,
  ): { all: Map<string, number>; recent: Map<string, number> } {
    const ttl = this.opts.ttlMs;
    const [all, recent] = this.walk(model, hashes, ids, now, [ttl, Math.min(recentMs, ttl)]);
    return { all: all!, recent: recent! };
  }

  /**
   * The walk behind both: the depths per age in `maxAges` (longest first). One holder lookup per endpoint and block
   * serves every age; the walk ends when no endpoint is left within the longest.
   */
  private walk(
    model: string,
    hashes: readonly bigint[],
    ids: readonly string[],
    now: number,
    maxAges: readonly number[],
  ): Map<string, number>[] {
    const survivors = new Survivors(ids, maxAges);
    const table = this.models.get(model)?.blocks;
    if (!table) return survivors.depths;
    let i = 0;
    for (; i < hashes.length && survivors.left > 0; i++) {
      const holders = table.get(hashes[i]!);
      if (!holders) break;
      survivors.narrow(holders, now, i);
    }
    survivors.finish(i);
    return survivors.depths;
  }

  /** Record that `id` now holds every block of `hashes`. */
  insert(model: string, hashes: readonly bigint[], id: string, now: number): void {
    let entry = this.models.get(model);
    if (!entry) {
      const blocks = new Map<bigint, Map<string, number>>();
      this.models.set(model, (entry = { blocks, evictor: new MapEvictor(blocks) }));
    }
    const table = entry.blocks;
    let added = 0;
    for (const h of hashes) {
      let holders = table.get(h);
      if (holders) {
        // Moved to the LRU tail by this endpoint less than a second ago: refresh its time only. A long prompt
        // repeated often (a tenant's system prompt) then costs one lookup per block instead of a delete and two sets,
        // and eviction order is exact to within that second.
        const seen = holders.get(id);
        if (seen !== undefined && now - seen < LRU_MOVE_INTERVAL_MS) {
          holders.set(id, now);
          continue;
        }
        table.delete(h);
      } else holders = new Map();
      if (!holders.has(id)) added++;
      holders.set(id, now);
      table.set(h, holders);
    }
    if (added > 0) this.held.set(id, (this.held.get(id) ?? 0) + added);
    while (table.size > this.opts.maxBlocks) {
      const [, holders] = entry.evictor.evictOldest()!;
      for (const holder of holders.keys()) this.release(holder, 1);
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
 * Endpoints that held every block of a prompt so far, each with how many of the ages (longest first) it held them
 * all within, compacted in place as the walk goes (as KvBlockIndex's walk does: no allocation per block). Within a
 * shorter age implies within every longer one, so an endpoint's ages are always the first few. `depths[a]` gets an
 * endpoint's depth for age `a` when it drops out of that age or at the end.
 */
class Survivors {
  readonly depths: Map<string, number>[];
  private readonly ids: string[];
  private readonly ages: number[];
  left: number;

  constructor(
    ids: readonly string[],
    private readonly maxAges: readonly number[],
  ) {
    this.depths = maxAges.map(() => new Map());
    this.ids = ids.slice();
    this.ages = ids.map(() => maxAges.length);
    this.left = ids.length;
  }

  /** Keeps those holding block `i` per `holders`, in the ages its time allows; one leaving an age held `i` blocks. */
  narrow(holders: Map<string, number>, now: number, i: number): void {
    let k = 0;
    for (let j = 0; j < this.left; j++) {
      const id = this.ids[j]!;
      const t = holders.get(id);
      const age = t === undefined ? Infinity : now - t;
      let within = this.ages[j]!;
      while (within > 0 && age > this.maxAges[within - 1]!) {
        within--;
        if (i > 0) this.depths[within]!.set(id, i);
      }
      if (within > 0) {
        this.ids[k] = id;
        this.ages[k++] = within;
      }
    }
    this.left = k;
  }

  /** The walk stopped after `blocks` blocks: those left held all of them, in each age they are still within. */
  finish(blocks: number): void {
    if (blocks === 0) return;
    for (let j = 0; j < this.left; j++) {
      for (let a = 0; a < this.ages[j]!; a++) this.depths[a]!.set(this.ids[j]!, blocks);
    }
  }
}
