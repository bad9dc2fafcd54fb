// The kv-cache-reuse workload: questions on shared documents and multi-turn conversations, every prompt sized in the
// engines' own tokens (bench/lib/token-text.ts), so the working set the result states is the one the engines hold.
import { rng, type TokenText } from "../lib/token-text.js";

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
