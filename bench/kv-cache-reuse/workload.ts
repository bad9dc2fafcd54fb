// The kv-cache-reuse workload: questions on shared documents and multi-turn conversations, every prompt sized in the
// engines' own tokens (the tokenizer the simulator serves with), so the working set the result states is the one
// the engines hold. Random three-letter words are two or three tokens each, not one: sizing prompts by word count
// made them about three times longer than stated
// (bench/routing-quality's words are one token each only under the shared approximate tokenizer).
import type { ModelTokenizer } from "../../api/model-tokenizer.js";
import { rng } from "../routing-quality/workloads.js";

export { rng };

export interface ReuseShape {
  documents: number;
  documentTokens: number;
  questionTokens: number;
  conversations: number;
  systemTokens: number;
  /** Turns per conversation; each adds a user message and the reply. */
  turns: number;
  userTokens: number;
  /** max_tokens of every request (the reply of a conversation turn). */
  outputTokens: number;
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/** Text of an exact number of tokens: words that tokenize on their own (a leading space starts a new piece). */
export class TokenText {
  private readonly cost = new Map<string, number>();

  constructor(private readonly tokenizer: ModelTokenizer) {}

  /** Random words adding up to exactly `tokens` tokens. */
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

export interface Corpus {
  documents: string[];
  /** Each conversation's opening (its system text). */
  openings: string[];
}

export function corpus(text: TokenText, s: ReuseShape, seed = 1): Corpus {
  const r = rng(seed);
  return {
    documents: Array.from({ length: s.documents }, () => "Document:" + text.words(s.documentTokens, r)),
    openings: Array.from({ length: s.conversations }, () => "Conversation:" + text.words(s.systemTokens, r)),
  };
}

/** A question on a document: the document is the shared prefix. */
export function questionPrompt(text: TokenText, doc: string, s: ReuseShape, rand: () => number): string {
  return `${doc}\nQuestion:${text.words(s.questionTokens, rand)}\nAnswer:`;
}

/** The next turn of a conversation: its history (earlier prompts and replies) is the shared prefix. */
export function turnPrompt(text: TokenText, history: string, s: ReuseShape, rand: () => number): string {
  return `${history}\nUser:${text.words(s.userTokens, rand)}\nAssistant:`;
}

/**
 * Prompt tokens that can be reused (documents, and conversations at their longest), the set a cache must hold for
 * every prompt to hit. Markup is a few tokens per part; replies are counted at `outputTokens`.
 */
export function workingSetTokens(s: ReuseShape): number {
  const conversation = s.systemTokens + s.turns * (s.userTokens + s.outputTokens);
  return s.documents * s.documentTokens + s.conversations * conversation;
}
