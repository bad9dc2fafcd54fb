// The prompt text a request becomes, and its tokens and block hashes, computed lazily and at most once.
import { blockHashes, chatPromptText, countTokens, type ChatMessageLike } from "../../api/tokens.js";
import { fastTokenize } from "./fast-tokens.js";
import type { PromptCache } from "./prompt-cache.js";

export function promptTextOf(path: string, body: Record<string, unknown>): string {
  if (path === "/v1/chat/completions") {
    const msgs = body.messages;
    return Array.isArray(msgs) ? chatPromptText(msgs as ChatMessageLike[]) : "";
  }
  const p = body.prompt ?? body.input;
  if (typeof p === "string") return p;
  if (Array.isArray(p)) return p.filter((x) => typeof x === "string").join(" ");
  return "";
}

/** Tokens and hashes of one prompt, memoised; with a `PromptCache`, a prefix seen before is not redone. */
export class PromptTokens {
  private tokens?: number[];
  private count?: number;
  private hashes = new Map<number, bigint[]>();
  private source: string | (() => string);

  /** `text` may be a function: strategies that never look at the prompt then never build its text. */
  constructor(
    text: string | (() => string),
    private readonly extraKey?: string,
    private readonly cache?: PromptCache,
  ) {
    this.source = text;
  }

  get text(): string {
    if (typeof this.source !== "string") this.source = this.source();
    return this.source;
  }

  get tokenCount(): number {
    if (this.count === undefined) {
      if (this.tokens) this.count = this.tokens.length;
      else if (this.cache) this.count = this.cache.analyse(this.text).tokenCount;
      else this.count = countTokens(this.text);
    }
    return this.count;
  }

  blockHashes(blockSize: number): bigint[] {
    let h = this.hashes.get(blockSize);
    if (!h) {
      if (this.cache) {
        const a = this.cache.analyse(this.text, blockSize, this.extraKey);
        this.count = a.tokenCount;
        h = a.hashes!;
      } else {
        this.tokens ??= fastTokenize(this.text);
        h = blockHashes(this.tokens, blockSize, undefined, this.extraKey);
      }
      this.hashes.set(blockSize, h);
    }
    return h;
  }
}
