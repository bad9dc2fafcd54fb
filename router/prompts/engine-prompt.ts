// A request's prompt as the engine sees it: the model's own token ids (its tokenizer and chat template) and vLLM's
// block keys over them — the names the engine's KV events give the blocks it holds. Computed lazily, at most once
// per block size / hash algorithm / adapter path, and only for models with a tokenizer configured; blocks of a
// prefix an earlier request had come from the shared block-key cache.
import type { PrefixHashAlgo } from "../../api/block-hash.js";
import type { BlockKeyCache } from "../../api/block-key-cache.js";
import type { ChatMessage, ModelTokenizer } from "../../api/model-tokenizer.js";

/** The adapter a request runs on, as the engine loaded it (both name and path key vLLM's blocks). */
export interface LoraKey {
  name: string;
  path: string;
}

export class EnginePrompt {
  private ids: number[] | null | undefined;
  private keys = new Map<string, bigint[]>();

  constructor(
    private readonly tokenizer: ModelTokenizer,
    private readonly path: string,
    private readonly body: Record<string, unknown>,
    /** The engines' PYTHONHASHSEED, when they run with one. */
    private readonly seed: string | undefined,
    /** Shared by every request: a prefix seen before costs a lookup per block, not a hash. */
    private readonly blockKeyCache: BlockKeyCache,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  /** The engine's prompt token ids; null when this request has none the router can reproduce. */
  tokenIds(): number[] | null {
    if (this.ids === undefined) {
      try {
        this.ids = this.render();
      } catch (err) {
        this.onError(err as Error);
        this.ids = null;
      }
    }
    return this.ids;
  }

  private render(): number[] | null {
    const b = this.body;
    if (this.path === "/v1/chat/completions") {
      if (!Array.isArray(b.messages)) return null;
      const kwargs = b.chat_template_kwargs;
      return this.tokenizer.chatTokenIds(b.messages as ChatMessage[], {
        addGenerationPrompt: b.add_generation_prompt !== false,
        continueFinalMessage: b.continue_final_message === true,
        templateKwargs: kwargs && typeof kwargs === "object" ? (kwargs as Record<string, unknown>) : undefined,
        tools: b.tools,
      });
    }
    if (this.path === "/v1/completions") {
      const p = b.prompt;
      const text = typeof p === "string" ? p : Array.isArray(p) && p.length === 1 ? p[0] : undefined;
      if (typeof text === "string") return this.tokenizer.completionTokenIds(text);
      // A prompt of token ids is what the engine hashes, as it is.
      const ids = Array.isArray(text) ? text : p;
      if (Array.isArray(ids) && ids.length > 0 && ids.every((t) => Number.isInteger(t) && (t as number) >= 0)) {
        return ids as number[];
      }
    }
    return null;
  }

  /** vLLM's keys of the prompt's full blocks; undefined when the prompt cannot be reproduced. */
  blockKeys(blockSize: number, algo: PrefixHashAlgo, lora?: LoraKey): readonly bigint[] | undefined {
    const ids = this.tokenIds();
    if (!ids) return undefined;
    const k = `${blockSize}|${algo}|${lora?.name ?? ""}|${lora?.path ?? ""}`;
    let keys = this.keys.get(k);
    if (!keys) {
      const salt = this.body.cache_salt;
      keys = this.blockKeyCache.keys(ids, blockSize, {
        algo,
        ...(this.seed !== undefined ? { seed: this.seed } : {}),
        ...(lora ? { lora } : {}),
        ...(typeof salt === "string" && salt !== "" ? { cacheSalt: salt } : {}),
      });
      this.keys.set(k, keys);
    }
    return keys;
  }
}
