// Token ids of plain text, word by word, for byte-level BPE tokenizers whose text may be cut (tokenizer-cuts.ts).
//
// A word runs from one cut point to the next (a cut point is a space after a letter or number), so by the rule that
// makes cuts safe the ids of a text are its words' ids joined, and the ids of any run of words are too. Words repeat
// far more than the chunks the piece cache keys on: a prompt nobody sent before is mostly words seen before. So a
// missed chunk costs a lookup per word, and the words never seen go to the tokenizer together in one call (its cost
// per call is several times its cost per word). That call's tokens are split back into words by their text: in a
// byte-level vocabulary every token spells its bytes, one character a byte, so a word's tokens must spell exactly
// the word's bytes. Anything else (an unknown token, a prefix space added, a normalizer that changed the text some
// other way) makes the answer undefined, and the caller encodes the text whole: never a wrong id.
import { PieceCache } from "./piece-cache.js";

/** A cut point: the position before a space that follows a letter or number. */
const WORD_START = /(?<=[\p{L}\p{N}])(?= )/u;

/** GPT-2's byte-to-character table: printable bytes stand for themselves, the others for characters from U+0100. */
const BYTE_CHARS: readonly string[] = (() => {
  const out = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out[b] = String.fromCharCode(printable ? b : next++);
  }
  return out;
})();

/** What the tokenizer's vocabulary spells `text` with: each UTF-8 byte as its byte-level character. */
export function byteLevelSpelling(text: string): string {
  let out = "";
  for (const b of Buffer.from(text, "utf8")) out += BYTE_CHARS[b];
  return out;
}

export interface TokenizedText {
  ids: readonly number[];
  /** The tokens' text in the vocabulary, one per id. */
  tokens: readonly string[];
}

/** Words seen once and not kept, remembered at most (then forgotten all at once). */
const SEEN_ONCE_MAX = 100_000;

/** 32-bit FNV-1a over a word's UTF-16 code units: what the seen-once set holds (a collision only keeps a word early). */
function wordHash(word: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class ByteLevelWords {
  private readonly cache: PieceCache;
  /**
   * Words met once in text mostly of new words, not kept: text nobody sent before (identifiers, encoded data) would
   * otherwise fill the cache with words never seen again, and pay for keeping each. A word is kept when it comes back.
   */
  private seenOnce = new Set<number>();

  constructor(
    /** The tokenizer itself, without special tokens added. */
    private readonly tokenize: (text: string) => TokenizedText,
    /** The tokenizer's normalizer (identity, or canonical Unicode normalization). */
    private readonly normalize: (text: string) => string,
    budgetBytes: number,
  ) {
    this.cache = new PieceCache(budgetBytes);
  }

  get hits(): number {
    return this.cache.hits;
  }

  get misses(): number {
    return this.cache.misses;
  }

  /**
   * The ids of `text` from its words' ids; undefined when the caller should encode it whole: most of its words are
   * new and were not seen before either, or the new words' tokens do not spell them.
   */
  ids(text: string): number[] | undefined {
    const words = text.split(WORD_START);
    const known: (readonly number[] | undefined)[] = new Array(words.length);
    let fresh: Map<string, readonly number[]> | undefined;
    for (let i = 0; i < words.length; i++) {
      known[i] = this.cache.get(words[i]!);
      if (!known[i]) (fresh ??= new Map()).set(words[i]!, []);
    }
    if (fresh && 4 * fresh.size > words.length && !this.seenBefore(fresh)) return undefined;
    if (fresh && !this.learn(fresh)) return undefined;
    const out: number[] = [];
    for (let i = 0; i < words.length; i++) {
      for (const id of known[i] ?? fresh!.get(words[i]!)!) out.push(id);
    }
    return out;
  }

  /** Whether at least half the new words were seen before; if not, they are remembered as seen once. */
  private seenBefore(fresh: Map<string, readonly number[]>): boolean {
    let seen = 0;
    const hashes = [...fresh.keys()].map(wordHash);
    for (const h of hashes) if (this.seenOnce.has(h)) seen++;
    if (2 * seen >= fresh.size) return true;
    if (this.seenOnce.size + fresh.size > SEEN_ONCE_MAX) this.seenOnce = new Set();
    for (const h of hashes) this.seenOnce.add(h);
    return false;
  }

  /**
   * Tokenizes the words of `fresh` (its keys, in order: every one after the first starts with a space, every one
   * before the last ends with a letter or number, so each junction is a cut point) in one call, fills in their ids
   * and keeps them; false, keeping nothing, when the tokens do not spell the words one after another.
   */
  private learn(fresh: Map<string, readonly number[]>): boolean {
    const words = [...fresh.keys()];
    const { ids, tokens } = this.tokenize(words.join(""));
    let t = 0;
    for (const word of words) {
      const spelling = byteLevelSpelling(this.normalize(word));
      const mine: number[] = [];
      let spelled = 0;
      while (spelled < spelling.length && t < tokens.length) {
        const token = tokens[t]!;
        if (!spelling.startsWith(token, spelled)) return false;
        spelled += token.length;
        mine.push(ids[t++]!);
      }
      if (spelled !== spelling.length || mine.length === 0) return false;
      fresh.set(word, mine);
    }
    if (t !== tokens.length) return false;
    for (const [word, mine] of fresh) this.cache.keep(word, mine);
    return true;
  }
}

/**
 * The text form tokenizer.json's normalizer gives, when it is none or canonical Unicode normalization (NFC, NFD, or
 * a sequence of them: what cutting allows); undefined for any other normalizer.
 */
export function canonicalNormalizer(normalizer: unknown): ((text: string) => string) | undefined {
  if (normalizer === null || normalizer === undefined) return (text) => text;
  const n = normalizer as { type?: unknown; normalizers?: unknown };
  if (n.type === "NFC" || n.type === "NFD") {
    const form = n.type;
    return (text) => text.normalize(form);
  }
  if (n.type !== "Sequence" || !Array.isArray(n.normalizers)) return undefined;
  const steps = n.normalizers.map(canonicalNormalizer);
  if (steps.some((s) => s === undefined)) return undefined;
  return (text) => steps.reduce((t, step) => step!(t), text);
}
