// vLLM block keys remembered per prefix, so a long prompt that shares its start with earlier ones costs a lookup per
// block instead of a serialisation and a SHA-256 per block. A block's digest is a pure function of its parent's
// digest, its token ids and its extra keys; the cache maps exactly that triple to the digest.
//
// Parents are named by a number, not by their 32 digest bytes: every cached block gets a fresh number (never reused),
// and a prompt's first block has the number of its chain's root (NONE_HASH for one algorithm and seed). Evicting a
// parent only orphans its children (nothing reaches them any more, and the LRU drops them in time); it can never make
// a lookup answer for the wrong parent. Token ids are hashed cheaply for the map key and compared in full on a hit.
import {
  blockExtraKeys,
  digestKey,
  hashObject,
  noneHash,
  DEFAULT_NONE_HASH_SEED,
  type BlockHashOptions,
  type HashValue,
} from "./block-hash.js";

interface CachedBlock {
  /** This block's number: its children's parent. */
  readonly id: number;
  readonly tokens: readonly number[];
  readonly digest: Buffer;
  readonly key: bigint;
}

interface Root {
  readonly id: number;
  readonly digest: Buffer;
}

/** Estimated bytes one cached block holds: its token copy, digest, key, map key and the bookkeeping around them. */
function blockBytes(blockSize: number, mapKey: string): number {
  return 8 * blockSize + 2 * mapKey.length + 256;
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
  private readonly blocks = new Map<string, CachedBlock>();
  private readonly roots = new Map<string, Root>();
  private nextId = 0;
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
    const root = this.root(opts);
    const full = Math.floor(tokenIds.length / blockSize);
    const out: CachedBlock[] = new Array<CachedBlock>(full);
    // Extra keys differ only between the first block (cache salt) and the rest.
    const firstExtra = full > 0 ? blockExtraKeys(0, opts) : null;
    const laterExtra = full > 1 ? blockExtraKeys(1, opts) : null;
    const firstTag = extraKeysTag(firstExtra);
    const laterTag = extraKeysTag(laterExtra);
    let parentId = root.id;
    let parentDigest = root.digest;
    for (let b = 0; b < full; b++) {
      const from = b * blockSize;
      const tag = b === 0 ? firstTag : laterTag;
      const mapKey = `${parentId}/${blockSize}/${tokensHash(tokenIds, from, from + blockSize)}/${tag}`;
      let block = this.blocks.get(mapKey);
      if (block && sameTokens(block.tokens, tokenIds, from)) {
        this.hits++;
        this.blocks.delete(mapKey);
        this.blocks.set(mapKey, block);
      } else {
        this.misses++;
        const tokens = Array.prototype.slice.call(tokenIds, from, from + blockSize) as number[];
        const digest = hashObject(opts.algo, [parentDigest, tokens, b === 0 ? firstExtra : laterExtra]);
        block = { id: this.nextId++, tokens, digest, key: digestKey(digest) };
        this.keep(mapKey, block, blockSize);
      }
      out[b] = block;
      parentId = block.id;
      parentDigest = block.digest;
    }
    return out;
  }

  private root(opts: BlockHashOptions): Root {
    const seed = opts.seed ?? DEFAULT_NONE_HASH_SEED;
    const name = `${opts.algo}/${seed}`;
    let root = this.roots.get(name);
    if (!root) {
      root = { id: this.nextId++, digest: noneHash(opts.algo, seed) };
      this.roots.set(name, root);
    }
    return root;
  }

  private keep(mapKey: string, block: CachedBlock, blockSize: number): void {
    const replaced = this.blocks.get(mapKey);
    if (replaced) {
      // Same map key, other tokens (a token-hash collision): the newer block takes the slot.
      this.blocks.delete(mapKey);
      this.heldBytes -= blockBytes(replaced.tokens.length, mapKey);
    }
    this.blocks.set(mapKey, block);
    this.heldBytes += blockBytes(blockSize, mapKey);
    while (this.heldBytes > this.budgetBytes && this.blocks.size > 0) {
      const [oldKey, old] = this.blocks.entries().next().value!;
      this.blocks.delete(oldKey);
      this.heldBytes -= blockBytes(old.tokens.length, oldKey);
    }
  }
}
