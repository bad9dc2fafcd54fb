// Workload text sized in the engines' own tokens (the tokenizer the simulator serves with), deterministic per seed.
// Random three-letter words are two or three tokens each under that vocabulary, not one: sizing prompts by word count
// makes them about three times longer than stated, and a sweep planned against capacity lands deep in overload.
import type { ModelTokenizer } from "../../api/model-tokenizer.js";

/** A seeded generator of uniform numbers in [0, 1) (xorshift32): the same seed, the same workload. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/** Text of an exact number of tokens: words that tokenize on their own (a leading space starts a new piece). */
export class TokenText {
  private readonly cost = new Map<string, number>();

  constructor(private readonly tokenizer: ModelTokenizer) {}

  /** Random words adding up to exactly `tokens` tokens, each with its leading space. */
  words(tokens: number, rand: () => number): string {
    let out = "";
    let left = tokens;
    while (left > 0) {
      const word =
        " " + Array.from({ length: 1 + Math.floor(rand() * 3) }, () => LETTERS[Math.floor(rand() * 26)]).join("");
      const n = this.tokensOf(word);
      if (n > left) continue;
      out += word;
      left -= n;
    }
    return out;
  }

  /** The prompt tokens an engine counts for `prompt` (with the beginning-of-sequence token). */
  count(prompt: string): number {
    return this.tokenizer.completionTokenIds(prompt).length;
  }

  private tokensOf(word: string): number {
    let n = this.cost.get(word);
    if (n === undefined) this.cost.set(word, (n = this.tokenizer.encode(word, false).length));
    return n;
  }
}
