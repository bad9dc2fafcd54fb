// vLLM block keys remembered per prefix, so a long prompt that shares its start with earlier ones costs a lookup per
// block instead of a serialisation and a SHA-256 per block. A block's digest is a pure function of its parent's
// digest, its token ids and its extra keys; the cache maps exactly that triple to the digest.
//
// The cache is a tree: each chain start (NONE_HASH for one algorithm and seed, with one block size and one set of
// extra keys) and each cached block holds its cached children, keyed by a cheap hash of their token ids that a hit
// confirms by comparing the ids in full. A lookup walks down from the start, so a block is found only under its own
// parent. Evicting a parent only orphans its children (nothing reaches them any more, and the LRU drops them in
// time); it can never make a lookup answer for the wrong parent.
//
// A chain's first block, once a second prompt has started with it, also remembers the last path walked in full from
// it (a copy of the token ids and the blocks met). A prompt that starts the same way (a tenant's document, a system
// prompt) takes the blocks of the ids it shares with that path at once, after one pass comparing the ids, and walks
// only the rest. Such a prompt does not move the shared blocks in the LRU; a path is reused for at most `pathReuseMs`
// (a second) after its walk, then the next prompt walks in full, which moves them and becomes the path. Reused blocks
// evicted in the meantime still name the right keys: a block's key depends on its content only. A path's bytes count
// against the budget.
import {
  blockExtraKeys,
  digestKey,
  hashObject,
  noneHash,
  DEFAULT_NONE_HASH_SEED,
  type BlockHashOptions,
  type HashValue,
} from "./block-hash.js";
import { MapEvictor } from "./map-evictor.js";

/** A chain's start (NONE_HASH for one algorithm, seed, block size and extra keys) or a cached block: a parent. */
interface Parent {
  readonly digest: Buffer;
  /** Cached children by the hash of their token ids (created on the first child). */
  children?: Map<number, CachedBlock>;
  /** The child found or added last: a chain walked again finds each block without hashing its tokens. */
  lastChild?: CachedBlock;
}

/** The last path walked in full from a chain's first block. */
interface WalkedPath {
  /** The token ids walked (a copy; 64-bit, so that no id can wrap into another). */
  readonly ids: Float64Array;
  readonly blocks: readonly CachedBlock[];
  /** When it was walked (ms). */
  readonly at: number;
  readonly bytes: number;
}

interface CachedBlock extends Parent {
  readonly tokens: readonly number[];
  readonly key: bigint;
  /** The map this block is listed in (its parent's children), and its key there. */
  readonly siblings: Map<number, CachedBlock>;
  readonly tokensHash: number;
  readonly bytes: number;
  /** Neighbours in least-recently-used order. */
  older?: CachedBlock;
  newer?: CachedBlock;
  /** Evicted (or replaced by a colliding block). */
  dropped?: boolean;
  /** A chain's first block only: the last path walked in full from it. */
  path?: WalkedPath;
}

export interface BlockKeyCacheOptions {
  /**
   * How long a walked path serves the prompts that share its start before a walk in full refreshes the LRU (ms);
   * 0 keeps no paths (every walk moves every block it meets, for an exact LRU order).
   */
  pathReuseMs?: number;
  /** The clock paths are timed by (ms). */
  now?: () => number;
}

/** Chain starts kept at most; past it the least recently used one goes (its blocks age out of the LRU in time). */
const MAX_ROOTS = 4096;

/**
 * Estimated bytes one cached block holds: its token copy (8 a token), and 620 more for the block object, its digest
 * (a Buffer of its own), key, children map and its entry in its parent's (measured on V8: 726 bytes a block at block
 * size 16 and 1,622 at 128, a little more while evictions leave deleted slots in the maps; a test holds a full
 * cache's heap to its budget).
 */
export function blockBytes(blockSize: number): number {
  return 8 * blockSize + 620;
}

/** 32-bit FNV-1a over a block's token ids (as 32-bit words): a map key, never trusted without comparing the ids. */
function tokensHash(tokenIds: ArrayLike<number>, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ (tokenIds[i]! | 0), 0x01000193);
  return h >>> 0;
}

function sameTokens(held: readonly number[], tokenIds: ArrayLike<number>, from: number): boolean {
  for (let i = 0; i < held.length; i++) if (held[i] !== tokenIds[from + i]) return false;
  return true;
}

/** A stable text form of a block's extra keys (part of the map key: equal text = equal Python value). */
function extraKeysTag(keys: HashValue[] | null): string {
  return keys === null ? "" : JSON.stringify(keys, (_, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
}

export class BlockKeyCache {
  private readonly roots = new Map<string, Parent>();
  private readonly rootEvictor = new MapEvictor(this.roots);
  /** Least recently used end of the list of cached blocks, and most recently used end. */
  private oldest?: CachedBlock;
  private newest?: CachedBlock;
  private heldBytes = 0;
  hits = 0;
  misses = 0;
  /** Hits taken from walked paths (see the file comment), without a lookup of their own. */
  pathHits = 0;

  private readonly pathReuseMs: number;
  private readonly now: () => number;

  constructor(
    /** The most bytes (estimated) the cache holds. */
    readonly budgetBytes: number,
    options: BlockKeyCacheOptions = {},
  ) {
    this.pathReuseMs = options.pathReuseMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** The digests of the full blocks of `tokenIds` from the start of a prompt: `blockDigests`' answer, remembered. */
  digests(tokenIds: ArrayLike<number>, blockSize: number, opts: BlockHashOptions): Buffer[] {
    return this.walk(tokenIds, blockSize, opts).map((b) => b.digest);
  }

  /** The keys KV events name those blocks by: `blockKeys`' answer, remembered. */
  keys(tokenIds: ArrayLike<number>, blockSize: number, opts: BlockHashOptions): bigint[] {
    return this.walk(tokenIds, blockSize, opts).map((b) => b.key);
  }

  private walk(tokenIds: ArrayLike<number>, blockSize: number, opts: BlockHashOptions): CachedBlock[] {
    if (!Number.isInteger(blockSize) || blockSize < 1) {
      throw new RangeError(`blockSize: ${String(blockSize)} must be a positive integer (vLLM's CPU default is 128)`);
    }
    const full = Math.floor(tokenIds.length / blockSize);
    const out: CachedBlock[] = new Array<CachedBlock>(full);
    if (full === 0) return out;
    // Extra keys differ only between the first block (cache salt) and the rest.
    const firstExtra = blockExtraKeys(0, opts);
    const laterExtra = blockExtraKeys(1, opts);
    const root = this.root(opts, blockSize, extraKeysTag(firstExtra), extraKeysTag(laterExtra));
    const now = this.now();
    // A chain start met before: the prompts that start this way may share more, so its walks are worth a path.
    const seen = this.child(root, tokenIds, 0, blockSize);
    const reused = seen ? this.reusePath(seen, tokenIds, blockSize, full, now, out) : 0;
    let parent: Parent = reused > 0 ? out[reused - 1]! : root;
    // Blocks found are moved to the young end of the LRU list a run at a time: a chain walked before lies in the list
    // in walk order, so most blocks need no relinking of their own (fewer objects touched than a move per block).
    let run: CachedBlock | undefined;
    for (let b = reused; b < full; b++) {
      const from = b * blockSize;
      // Block 0 is walked only when no path was reused, from the root: `seen` is that lookup's answer already.
      let block = b === 0 ? seen : this.child(parent, tokenIds, from, blockSize);
      if (block) {
        this.hits++;
        if (!run || block.older !== out[b - 1]) {
          if (run) this.moveToYoungEnd(run, out[b - 1]!);
          run = block;
        }
      } else {
        this.misses++;
        if (run) this.moveToYoungEnd(run, out[b - 1]!);
        run = undefined;
        const tokens = Array.prototype.slice.call(tokenIds, from, from + blockSize) as number[];
        const digest = hashObject(opts.algo, [parent.digest, tokens, b === 0 ? firstExtra : laterExtra]);
        const siblings = (parent.children ??= new Map());
        const hash = tokensHash(tokenIds, from, from + blockSize);
        block = { digest, tokens, key: digestKey(digest), siblings, tokensHash: hash, bytes: blockBytes(blockSize) };
        this.keep(block);
      }
      parent.lastChild = block;
      out[b] = block;
      parent = block;
    }
    if (run) this.moveToYoungEnd(run, out[full - 1]!);
    if (this.pathReuseMs > 0 && seen && reused === 0 && full > 1 && !out[0]!.dropped) {
      this.rememberPath(out[0]!, tokenIds, out, now);
    }
    return out;
  }

  /**
   * Fills `out` with the blocks `tokenIds` shares with the path last walked from `first`, its first block, if that
   * path is recent enough (see the file comment); how many.
   */
  private reusePath(
    first: CachedBlock,
    tokenIds: ArrayLike<number>,
    blockSize: number,
    full: number,
    now: number,
    out: CachedBlock[],
  ): number {
    const path = first.path;
    if (!path || now - path.at >= this.pathReuseMs) return 0;
    const end = Math.min(tokenIds.length, path.ids.length);
    let same = blockSize;
    while (same < end && path.ids[same] === tokenIds[same]) same++;
    const blocks = Math.min(full, Math.floor(same / blockSize));
    for (let b = 0; b < blocks; b++) out[b] = path.blocks[b]!;
    this.hits += blocks;
    this.pathHits += blocks;
    return blocks;
  }

  private rememberPath(first: CachedBlock, tokenIds: ArrayLike<number>, blocks: CachedBlock[], now: number): void {
    const ids = Float64Array.from(tokenIds);
    const bytes = ids.byteLength + 8 * blocks.length + 96;
    this.heldBytes += bytes - (first.path?.bytes ?? 0);
    first.path = { ids, blocks, at: now, bytes };
    while (this.heldBytes > this.budgetBytes && this.oldest) this.drop(this.oldest);
  }

  /** `parent`'s cached child holding `tokenIds[from, from + blockSize)`: the one found last, else by hash. */
  private child(parent: Parent, tokenIds: ArrayLike<number>, from: number, blockSize: number): CachedBlock | undefined {
    const last = parent.lastChild;
    if (last && !last.dropped && sameTokens(last.tokens, tokenIds, from)) return last;
    const block = parent.children?.get(tokensHash(tokenIds, from, from + blockSize));
    return block && sameTokens(block.tokens, tokenIds, from) ? block : undefined;
  }

  private root(opts: BlockHashOptions, blockSize: number, firstTag: string, laterTag: string): Parent {
    const seed = opts.seed ?? DEFAULT_NONE_HASH_SEED;
    const name = `${opts.algo}/${seed}/${blockSize}/${firstTag}/${laterTag}`;
    let root = this.roots.get(name);
    if (root) {
      this.roots.delete(name);
    } else {
      root = { digest: noneHash(opts.algo, seed) };
      if (this.roots.size >= MAX_ROOTS) this.rootEvictor.evictOldest();
    }
    this.roots.set(name, root);
    return root;
  }

  private keep(block: CachedBlock): void {
    const replaced = block.siblings.get(block.tokensHash);
    // Same parent and token hash, other tokens (a hash collision): the newer block takes the slot.
    if (replaced) this.drop(replaced);
    block.siblings.set(block.tokensHash, block);
    this.append(block);
    this.heldBytes += block.bytes;
    while (this.heldBytes > this.budgetBytes && this.oldest) this.drop(this.oldest);
  }

  private drop(block: CachedBlock): void {
    this.unlink(block);
    this.heldBytes -= block.bytes;
    if (block.siblings.get(block.tokensHash) === block) block.siblings.delete(block.tokensHash);
    // A parent may still name it as its last child: marked, so that it is never answered again, and holding no
    // child of its own, so that what it pointed to can go.
    block.dropped = true;
    block.lastChild = undefined;
    if (block.path) {
      this.heldBytes -= block.path.bytes;
      block.path = undefined;
    }
  }

  /** Moves the blocks `first` to `last` (consecutive in the list, oldest first) to the young end, keeping their order. */
  private moveToYoungEnd(first: CachedBlock, last: CachedBlock): void {
    if (this.newest === last) return;
    if (first.older) first.older.newer = last.newer;
    else this.oldest = last.newer;
    last.newer!.older = first.older;
    first.older = this.newest;
    this.newest!.newer = first;
    last.newer = undefined;
    this.newest = last;
  }

  private append(block: CachedBlock): void {
    block.older = this.newest;
    block.newer = undefined;
    if (this.newest) this.newest.newer = block;
    else this.oldest = block;
    this.newest = block;
  }

  private unlink(block: CachedBlock): void {
    if (block.older) block.older.newer = block.newer;
    else if (this.oldest === block) this.oldest = block.newer;
    if (block.newer) block.newer.older = block.older;
    else if (this.newest === block) this.newest = block.older;
    block.older = block.newer = undefined;
  }
}
