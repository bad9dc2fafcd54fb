// The word cache of @huggingface/tokenizers' BPE model, replaced by one that costs a lookup a word.
//
// The library keeps the tokens of up to 10,000 words in an LRU that refreshes every hit by deleting and re-setting the
// word in a Map and evicts through a fresh iterator, which walks past every hole those deletions left (see
// map-evictor.ts). Once the cache is full that bookkeeping is most of a call: encoding a short text (one new word, as
// a prompt's unseen number or name) took about 20 µs with it and 4-8 µs with a plain Map, on the simulator's
// tokenizer. The replacement is a PieceCache: refreshed only once an entry has aged past half the cache, bounded by
// an estimate of the memory it holds, keys copied so that no prompt is kept alive by a word cut from it.
import type { Tokenizer } from "@huggingface/tokenizers";
import { PieceCache } from "./piece-cache.js";

/** Memory the word cache may hold (estimated): some 20,000 words. */
const WORD_CACHE_BYTES = 4 * 1024 * 1024;
/** Estimated bytes of one cached token (a short string and its slot in the array). */
const TOKEN_BYTES = 40;

/** What the BPE model calls on its `cache`. */
interface BpeWordCache {
  get(word: string): string[] | undefined;
  put(word: string, tokens: string[]): void;
  clear(): void;
}

/**
 * Gives `tokenizer`'s BPE model the cache above; false when there is none to replace (a model other than BPE, or a
 * library version that keeps it elsewhere: tokenization is then as correct, only slower).
 */
export function replaceBpeWordCache(tokenizer: Tokenizer): boolean {
  const model = (tokenizer as unknown as { model?: { cache?: Partial<BpeWordCache> } }).model;
  if (typeof model?.cache?.get !== "function" || typeof model.cache.put !== "function") return false;
  let words = new PieceCache<string[]>(WORD_CACHE_BYTES, TOKEN_BYTES);
  const replacement: BpeWordCache = {
    get: (word) => words.get(word),
    put: (word, tokens) => words.keep(word, tokens),
    clear: () => {
      words = new PieceCache<string[]>(WORD_CACHE_BYTES, TOKEN_BYTES);
    },
  };
  model.cache = replacement;
  return true;
}
