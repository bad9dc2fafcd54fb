// The text a simulated engine generates: words of at most four characters with a leading space, so each one is
// exactly one token under api/tokens.ts and a router recounting the reply gets the engine's completion_tokens.
import { pieceId } from "../api/tokens.js";

const WORDS = (
  "the of and to in is it that was for on are with as his they be at one have this from or had by hot word but " +
  "what some we can out other were all there when up use your how said an each she which do their time if will " +
  "way about many then them write would like so these her long make thing see him two has look more day could go " +
  "come did no most my over know than call who oil its now find down get made may part"
)
  .split(" ")
  .filter((w) => w.length > 0 && w.length <= 3)
  .map((w) => ` ${w}`);

const WORD_IDS = WORDS.map(pieceId);
/** JSON-escaped forms, ready to splice into SSE chunks without a JSON.stringify per token. */
const WORD_JSON = WORDS.map((w) => JSON.stringify(w));

/** A request's deterministic reply: word i depends on a seed (from the request id) and i. */
export class ReplyText {
  private readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
  }

  private index(i: number): number {
    return ((this.seed + Math.imul(i, 7919)) >>> 0) % WORDS.length;
  }

  word(i: number): string {
    return WORDS[this.index(i)] as string;
  }

  wordJson(i: number): string {
    return WORD_JSON[this.index(i)] as string;
  }

  tokenId(i: number): number {
    return WORD_IDS[this.index(i)] as number;
  }

  /** The first `n` words joined. */
  text(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += this.word(i);
    return s;
  }

  /**
   * The number of tokens to generate before one of `stops` appears, and whether a stop ended it, within `max` tokens.
   * As in vLLM, the stop string itself is not returned: the reply is cut before it.
   */
  stopPoint(
    stops: readonly string[],
    max: number,
    minTokens = 0,
  ): { tokens: number; stopped: boolean; text: string; stop?: string } {
    let s = "";
    for (let i = 0; i < max; i++) {
      s += this.word(i);
      // As vLLM's min_tokens: stop strings do not end the output before that many tokens.
      if (i + 1 < minTokens) continue;
      for (const stop of stops) {
        const at = s.indexOf(stop);
        if (stop.length > 0 && at >= 0) return { tokens: i + 1, stopped: true, text: s.slice(0, at), stop };
      }
    }
    return { tokens: max, stopped: false, text: s };
  }
}
