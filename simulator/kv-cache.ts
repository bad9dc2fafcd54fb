// The paged KV cache: a fixed pool of blocks with automatic prefix caching, as vLLM V1 keeps it.
//
// - A block is either in use (refCount > 0) or free. Free blocks sit in one LRU queue; allocation takes from the head.
// - A full block carries the chained hash of its content (see api/tokens.ts); a free block keeps its hash, so a later
//   request with the same prefix can take it back (a hit) until allocation evicts it.
// - A finished request frees its blocks tail-first, so its suffix is evicted before the prefix others may share.
// Every change a router could mirror is reported as a KV event (BlockStored / BlockRemoved / AllBlocksCleared).

/** A KV event, in the field order of vLLM's msgspec structs (see kv-events.ts for the wire encoding). */
export type KvEvent =
  | {
      type: "BlockStored";
      blockHashes: bigint[];
      parentBlockHash: bigint | null;
      tokenIds: number[];
      blockSize: number;
      loraId: number | null;
      loraName: string | null;
      /** Where the block lives (vLLM's `medium`); absent means the engine's GPU pool. */
      medium?: string;
    }
  | { type: "BlockRemoved"; blockHashes: bigint[]; medium?: string }
  | { type: "AllBlocksCleared" };

interface Block {
  id: number;
  refCount: number;
  hash: bigint | null;
  // Links of the free queue (-1 = none); only meaningful while refCount is 0.
  prev: number;
  next: number;
  inFree: boolean;
}

export class BlockPool {
  readonly numBlocks: number;
  private readonly blocks: Block[];
  private readonly cached = new Map<bigint, number>();
  private head = -1;
  private tail = -1;
  private free = 0;
  /** Events since the last `drainEvents()`. */
  private events: KvEvent[] = [];
  private removedBatch: bigint[] = [];

  constructor(numBlocks: number) {
    this.numBlocks = numBlocks;
    this.blocks = [];
    for (let i = 0; i < numBlocks; i++) {
      this.blocks.push({ id: i, refCount: 0, hash: null, prev: -1, next: -1, inFree: false });
      this.pushTail(i);
    }
  }

  get freeBlocks(): number {
    return this.free;
  }

  /** Fraction of blocks held by running requests (vLLM's kv_cache_usage_perc, 0..1). */
  usage(): number {
    return this.numBlocks === 0 ? 0 : 1 - this.free / this.numBlocks;
  }

  /** Number of leading hashes whose blocks are cached (no side effect). */
  longestCachedPrefix(hashes: readonly bigint[], limit = hashes.length): number {
    let n = 0;
    while (n < limit && n < hashes.length && this.cached.has(hashes[n] as bigint)) n++;
    return n;
  }

  /** Takes a reference on the cached blocks of the first `count` hashes (a prefix hit). */
  acquireCached(hashes: readonly bigint[], count: number): number[] {
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const id = this.cached.get(hashes[i] as bigint);
      if (id === undefined) throw new Error(`prefix block ${i} is not cached; call longestCachedPrefix first`);
      const b = this.blocks[id] as Block;
      if (b.refCount === 0) this.unlink(id);
      b.refCount++;
      ids.push(id);
    }
    return ids;
  }

  /** Allocates `n` fresh blocks, evicting cached free blocks from the LRU head; null if fewer than `n` are free. */
  allocate(n: number): number[] | null {
    if (n > this.free) return null;
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.head;
      this.unlink(id);
      const b = this.blocks[id] as Block;
      if (b.hash !== null) {
        this.cached.delete(b.hash);
        this.removedBatch.push(b.hash);
        b.hash = null;
      }
      b.refCount = 1;
      ids.push(id);
    }
    this.flushRemoved();
    return ids;
  }

  /** Releases a request's blocks, last block first, so the suffix is evicted before the shared prefix. */
  release(ids: readonly number[]): void {
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i] as number;
      const b = this.blocks[id] as Block;
      b.refCount--;
      if (b.refCount > 0) continue;
      // A block without a hash holds nothing reusable: hand it out before any cached block.
      if (b.hash === null) this.pushHead(id);
      else this.pushTail(id);
    }
  }

  /**
   * Records that block `id` now holds the full block `hash`. If another block already caches the same content
   * (two identical prompts computed at once), the first stays the cached copy, as in vLLM. Returns whether stored.
   */
  store(id: number, hash: bigint): boolean {
    if (this.cached.has(hash)) return false;
    const b = this.blocks[id] as Block;
    b.hash = hash;
    this.cached.set(hash, id);
    return true;
  }

  /** Queues a BlockStored event (the caller groups a request's consecutive blocks). */
  emitStored(event: Extract<KvEvent, { type: "BlockStored" }>): void {
    this.events.push(event);
  }

  /** Drops every cached hash of free blocks; refuses (false) while requests hold blocks, as vLLM does. */
  resetPrefixCache(): boolean {
    if (this.free !== this.numBlocks) return false;
    for (const b of this.blocks) b.hash = null;
    this.cached.clear();
    this.events.push({ type: "AllBlocksCleared" });
    return true;
  }

  drainEvents(): KvEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  /** Queues an event about another place this engine reads from (a shared tier), in order with its own. */
  pushEvent(event: KvEvent): void {
    this.events.push(event);
  }

  private flushRemoved(): void {
    if (this.removedBatch.length === 0) return;
    this.events.push({ type: "BlockRemoved", blockHashes: this.removedBatch });
    this.removedBatch = [];
  }

  private pushTail(id: number): void {
    const b = this.blocks[id] as Block;
    b.prev = this.tail;
    b.next = -1;
    if (this.tail >= 0) (this.blocks[this.tail] as Block).next = id;
    else this.head = id;
    this.tail = id;
    b.inFree = true;
    this.free++;
  }

  private pushHead(id: number): void {
    const b = this.blocks[id] as Block;
    b.next = this.head;
    b.prev = -1;
    if (this.head >= 0) (this.blocks[this.head] as Block).prev = id;
    else this.tail = id;
    this.head = id;
    b.inFree = true;
    this.free++;
  }

  private unlink(id: number): void {
    const b = this.blocks[id] as Block;
    if (!b.inFree) throw new Error(`block ${id} is not free`);
    if (b.prev >= 0) (this.blocks[b.prev] as Block).next = b.next;
    else this.head = b.next;
    if (b.next >= 0) (this.blocks[b.next] as Block).prev = b.prev;
    else this.tail = b.prev;
    b.prev = b.next = -1;
    b.inFree = false;
    this.free--;
  }
}
