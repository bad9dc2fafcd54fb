// A KV tier shared by a fleet of simulated engines (the role of AIBrix's distributed KV cache, L2): blocks engines
// compute are offloaded here as they are computed, up to a capacity with least-recently-used eviction, and one that
// finds a prompt's next blocks here loads them over the network instead of recomputing them. A load takes
// bytes / bandwidth of simulated time on the engine's link to the tier, beside the engine's batch (see engine.ts).
// Every engine sharing the tier reports its contents as KV events with `medium: "CPU"` (what vLLM's offloading
// connector reports for offloaded blocks): any of them can load a block.
import type { KvEvent } from "./kv-cache.js";

export const SHARED_TIER_MEDIUM = "CPU";

export interface SharedTierConfig {
  /** Blocks the tier holds before evicting the least recently used. */
  capacityBlocks: number;
  /** Bytes of one block's KV (all layers): block size × 2 (K and V) × layers × KV heads × head dim × dtype bytes. */
  bytesPerBlock: number;
  /** Network bandwidth between an engine and the tier, bytes per second. */
  bandwidthBytesPerSecond: number;
}

export class SharedKvTier {
  readonly config: SharedTierConfig;
  /** Hashes in least-recently-used order (a Map iterates in insertion order). */
  private readonly blocks = new Map<bigint, true>();
  private readonly subscribers = new Set<(event: KvEvent) => void>();
  stored = 0;
  evicted = 0;
  loadedBlocks = 0;
  lookups = 0;
  /** Lookups that loaded at least one block from the tier. */
  hits = 0;

  constructor(config: SharedTierConfig) {
    for (const [field, value] of Object.entries(config)) {
      if (!(Number.isFinite(value) && value > 0)) {
        throw new Error(`shared tier ${field}: ${String(value)} must be a positive number`);
      }
    }
    this.config = config;
  }

  get size(): number {
    return this.blocks.size;
  }

  /** Receives every tier event (engines forward them on their own KV event streams). */
  subscribe(onEvent: (event: KvEvent) => void): () => void {
    this.subscribers.add(onEvent);
    return () => this.subscribers.delete(onEvent);
  }

  /** Keeps blocks an engine offloaded (refreshing those it holds); evicts the least recently used beyond capacity. */
  put(hashes: readonly bigint[]): void {
    const added = new Set<bigint>();
    for (const h of hashes) {
      if (this.blocks.delete(h)) {
        this.blocks.set(h, true);
        continue;
      }
      this.blocks.set(h, true);
      added.add(h);
      this.stored++;
    }
    const removed: bigint[] = [];
    for (const h of this.blocks.keys()) {
      if (this.blocks.size <= this.config.capacityBlocks) break;
      this.blocks.delete(h);
      // A block stored and evicted in one call was never announced: announce neither.
      if (!added.delete(h)) removed.push(h);
      this.evicted++;
    }
    if (added.size > 0) this.emit({ type: "BlockStored", ...storedFields([...added]), medium: SHARED_TIER_MEDIUM });
    if (removed.length > 0) this.emit({ type: "BlockRemoved", blockHashes: removed, medium: SHARED_TIER_MEDIUM });
  }

  /** How many of `hashes[from..limit)` the tier holds as one unbroken run from `from` (no side effect). */
  prefixRun(hashes: readonly bigint[], from: number, limit: number): number {
    let n = 0;
    while (from + n < limit && this.blocks.has(hashes[from + n]!)) n++;
    return n;
  }

  /** Records a lookup that loaded `hashes[from..from+count)`; those blocks become the most recently used. */
  markLoaded(hashes: readonly bigint[], from: number, count: number): void {
    this.lookups++;
    for (let i = from; i < from + count; i++) {
      if (!this.blocks.delete(hashes[i]!)) continue;
      this.blocks.set(hashes[i]!, true);
    }
    if (count > 0) this.hits++;
    this.loadedBlocks += count;
  }

  /** Simulated seconds to move `blocks` blocks from the tier into an engine's GPU. */
  loadSeconds(blocks: number): number {
    return (blocks * this.config.bytesPerBlock) / this.config.bandwidthBytesPerSecond;
  }

  private emit(event: KvEvent): void {
    for (const s of this.subscribers) s(event);
  }
}

/** A BlockStored for blocks whose tokens the tier does not keep (engines fill in their block size). */
function storedFields(hashes: bigint[]) {
  return { blockHashes: hashes, parentBlockHash: null, tokenIds: [], blockSize: 0, loraId: null, loraName: null };
}
