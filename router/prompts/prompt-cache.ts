// Tokens and block hashes of recently seen prompt prefixes. Prompts that share a long prefix (a tenant's system
// prompt, the earlier turns of a conversation) are tokenized and hashed once: a later prompt only pays for the part
// after the shared prefix. Results are always identical to `tokenize` + `blockHashes` of the whole text.
//
// Entries are keyed by a prompt's first `keyChars` characters. An entry holds a prompt text cut at a token-piece
// boundary, its token ids and the end offset of every token, so it can be cut back to any boundary when a new prompt
// shares only part of it: the part two prompts share stays cached, and a prompt that extends an entry (the next
// turn of a conversation) replaces it. Entries are evicted least recently used first.
import { MapEvictor } from "../../api/map-evictor.js";
import { commonPrefixLength, ownCopy } from "../../api/strings.js";
import { blockHashes, ROOT_BLOCK_HASH } from "../../api/tokens.js";
import { fastTokenize, isPieceBoundary, tokenizeAsciiFrom } from "./fast-tokens.js";

export interface PromptCacheOptions {
  /** Leading characters that key an entry; prompts that differ within them never share an entry. */
  keyChars: number;
  /** Prompts shorter than this are tokenized directly (cheap; not worth an entry). */
  minChars: number;
  /** Most entries kept. */
  maxEntries: number;
  /** Most tokens kept over all entries (bounds memory: about 24 bytes per token with its text and hashes). */
  maxTokens: number;
}

export const defaultPromptCacheOptions: PromptCacheOptions = {
  keyChars: 256,
  minChars: 1024,
  maxEntries: 1024,
  maxTokens: 2_000_000,
};

interface Entry {
  /**
   * The key it is stored under. A refresh re-sets this one, not the lookup's: that is a slice of the new prompt and,
   * as a V8 sliced string, would keep the whole prompt alive (and promoted to the old generation) with the entry.
   */
  key: string;
  /** Prompt text up to a piece boundary (or its whole length). */
  text: string;
  ids: Uint32Array;
  /** ends[i] = character offset just after token i. */
  ends: Uint32Array;
  /** Cut back to the part two prompts shared (then only a much longer prompt replaces it). */
  shared: boolean;
  /** `${blockSize}:${extraKey}` → hashes of the full blocks of `ids`. */
  hashes: Map<string, bigint[]>;
}

export interface PromptAnalysis {
  tokenCount: number;
  /** Full-block hashes, when a block size was asked for. */
  hashes?: bigint[];
}

export class PromptCache {
  private entries = new Map<string, Entry>();
  private readonly evictor = new MapEvictor(this.entries);
  private tokens = 0;
  /** Prompts that reused a cached prefix / that did not. */
  hits = 0;
  misses = 0;

  constructor(private readonly o: PromptCacheOptions = defaultPromptCacheOptions) {}

  get size(): number {
    return this.entries.size;
  }

  /** Token count of `text`, and its full-block hashes when `blockSize` is given (`extraKey` as in `blockHashes`). */
  analyse(text: string, blockSize?: number, extraKey?: string): PromptAnalysis {
    if (text.length < this.o.minChars) return direct(text, blockSize, extraKey);
    const key = text.slice(0, this.o.keyChars);
    const cached = this.entries.get(key);
    // Reusable part of the cached entry: its first `chars` characters and `count` tokens.
    let chars = 0;
    let count = 0;
    let whole = false;
    if (cached) {
      const e = cached.text;
      // slice + === compares like memcmp; startsWith walks the characters (25× slower on a 400 kB prompt).
      if (text.slice(0, e.length) === e && (text.length === e.length || isPieceBoundary(text, e.length))) {
        chars = e.length;
        whole = true;
      } else {
        // Shared part: the last piece boundary inside the common prefix (the character there must be shared too).
        chars = commonPrefixLength(e, text) - 1;
        while (chars > 0 && !isPieceBoundary(e, chars)) chars--;
      }
      count = chars > 0 ? tokensEndingBy(cached.ends, chars) : 0;
      if (count === 0) chars = 0;
    }
    const ids: number[] = [];
    const ends: number[] = [];
    const ascii = tokenizeAsciiFrom(text, chars, ids, ends);
    const suffix = ascii ? ids : fastTokenize(text.slice(chars));
    if (chars > 0) this.hits++;
    else this.misses++;
    const tokenCount = count + suffix.length;
    let hashes: bigint[] | undefined;
    if (blockSize !== undefined) {
      const hkey = `${blockSize}:${extraKey ?? ""}`;
      const full = Math.floor(count / blockSize);
      let prefixHashes: bigint[] = [];
      if (cached && full > 0) {
        let h = cached.hashes.get(hkey);
        if (!h || h.length < full) {
          h = blockHashes(cached.ids.subarray(0, full * blockSize), blockSize, ROOT_BLOCK_HASH, extraKey);
          cached.hashes.set(hkey, h);
        }
        prefixHashes = h.length === full ? h : h.slice(0, full);
      }
      const rest: number[] = [];
      if (cached) for (let i = full * blockSize; i < count; i++) rest.push(cached.ids[i]!);
      for (const id of suffix) rest.push(id);
      const parent = full > 0 ? prefixHashes[full - 1]! : ROOT_BLOCK_HASH;
      hashes = prefixHashes.concat(blockHashes(rest, blockSize, parent, extraKey));
    }
    if (!cached || !ascii) {
      if (ascii) this.store(key, text, undefined, 0, ids, ends, false, blockSize, extraKey, hashes);
    } else if (!whole) {
      // Two prompts share `chars` characters: keep just that shared part (a tenant's system prompt, say), so the
      // prompts that follow match it whole instead of each replacing the entry with itself. Copies: slices of this
      // prompt would keep all of it alive with the entry.
      if (count > 0) {
        const sharedText = ownCopy(text.slice(0, chars));
        this.store(ownCopy(key), sharedText, cached, count, [], [], true, blockSize, extraKey, hashes);
      } else this.store(key, text, undefined, 0, ids, ends, false, blockSize, extraKey, hashes);
    } else if (ids.length > 0 && (!cached.shared || text.length >= 2 * cached.text.length)) {
      // A prompt that extends the entry (the next turn of a conversation): remember the longer one.
      this.store(key, text, cached, count, ids, ends, false, blockSize, extraKey, hashes);
    } else this.touch(cached);
    return { tokenCount, hashes };
  }

  private touch(e: Entry): void {
    this.entries.delete(e.key);
    this.entries.set(e.key, e);
  }

  /** Stores `text` under `key` (replacing what was there): the first `count` tokens of `prev`, then `ids`. */
  private store(
    key: string,
    text: string,
    prev: Entry | undefined,
    count: number,
    ids: number[],
    ends: number[],
    shared: boolean,
    blockSize: number | undefined,
    extraKey: string | undefined,
    hashes: bigint[] | undefined,
  ): void {
    const n = count + ids.length;
    const all = new Uint32Array(n);
    const allEnds = new Uint32Array(n);
    if (prev && count > 0) {
      all.set(prev.ids.subarray(0, count));
      allEnds.set(prev.ends.subarray(0, count));
    }
    all.set(ids, count);
    allEnds.set(ends, count);
    const entry: Entry = { key, text, ids: all, ends: allEnds, shared, hashes: new Map() };
    // Earlier hashes of other block sizes stay valid for the reused tokens.
    if (prev) {
      for (const [k, h] of prev.hashes) {
        const bs = Number(k.slice(0, k.indexOf(":")));
        const keep = Math.min(h.length, Math.floor(count / bs));
        if (keep > 0) entry.hashes.set(k, h.slice(0, keep));
      }
    }
    if (blockSize !== undefined && hashes) {
      const keep = Math.floor(n / blockSize);
      entry.hashes.set(`${blockSize}:${extraKey ?? ""}`, hashes.length === keep ? hashes : hashes.slice(0, keep));
    }
    const replaced = this.entries.get(key);
    if (replaced) {
      this.entries.delete(key);
      this.tokens -= replaced.ids.length;
    }
    this.entries.set(key, entry);
    this.tokens += n;
    while (this.entries.size > this.o.maxEntries || (this.tokens > this.o.maxTokens && this.entries.size > 1)) {
      const [, old] = this.evictor.evictOldest()!;
      this.tokens -= old.ids.length;
    }
  }
}

/** Number of tokens that end at or before character `at` (`ends` is ascending). */
function tokensEndingBy(ends: Uint32Array, at: number): number {
  let lo = 0;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ends[mid]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function direct(text: string, blockSize?: number, extraKey?: string): PromptAnalysis {
  const ids = fastTokenize(text);
  return {
    tokenCount: ids.length,
    hashes: blockSize === undefined ? undefined : blockHashes(ids, blockSize, ROOT_BLOCK_HASH, extraKey),
  };
}
