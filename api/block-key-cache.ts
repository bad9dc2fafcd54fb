// vLLM block keys remembered per prefix, so a long prompt that shares its start with earlier ones costs a lookup per
// block instead of a serialisation and a SHA-256 per block. A block's digest is a pure function of its parent's
// digest, its token ids and its extra keys; the cache maps exactly that triple to the digest.
//
// The cache is a tree: each chain start (NONE_HASH for one algorithm and seed, with one block size and one set of
// extra keys) and each cached block holds its cached children, keyed by a cheap hash of their token ids that a hit
// confirms by comparing the ids in full. A lookup walks down from the start, so a block is found only under its own
// parent. Evicting a parent only orphans its children (nothing reaches them any more, and the LRU drops them in
// time); it can never make a lookup answer for the wrong parent.
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
}

/** Chain starts kept at most; past it the least recently used one goes (its blocks age out of the LRU in time). */
const MAX_ROOTS = 4096;

/** Estimated bytes one cached block holds: its token copy, digest, key, map key and the bookkeeping around them. */
function blockBytes(blockSize: number): number {
  return 8 * blockSize + 320;
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

  constructor(
    /** The most bytes (estimated) the cache holds. */
    readonly budgetBytes: number,
  ) {}

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
    let parent = this.root(opts, blockSize, extraKeysTag(firstExtra), extraKeysTag(laterExtra));
    // Blocks found are moved to the young end of the LRU list a run at a time: a chain walked before lies in the list
    // in walk order, so most blocks need no relinking of their own (fewer objects touched than a move per block).
    let run: CachedBlock | undefined;
    for (let b = 0; b < full; b++) {
      const from = b * blockSize;
      let block = this.child(parent, tokenIds, from, blockSize);
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
    return out;
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
