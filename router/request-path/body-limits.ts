// How large a request body may be: the configured maximum, tightened to what the engines' context lengths can use
// once every engine has reported one.
import type { Endpoint } from "../endpoints/endpoints.js";
import type { OpenAIError } from "../forwarding/errors.js";
import { contextBodyBytes } from "../prompts/prompt-bounds.js";

export interface ModelLimit {
  bytes: number;
  /** The model's context length (undefined: not reported by every endpoint). */
  context?: number;
}

/** Largest body any model may take: bounded by the context lengths engines report, when all of them do. */
export function readLimit(endpoints: readonly Endpoint[], maxBodyBytes: number): number {
  let limit = 0;
  for (const ep of endpoints) {
    const len = ep.maxModelLen;
    if (len === undefined) return maxBodyBytes;
    limit = Math.max(limit, contextBodyBytes(len));
  }
  return limit === 0 ? maxBodyBytes : Math.min(limit, maxBodyBytes);
}

/** Largest body the model behind `pool` may take, and the context length behind it. */
export function modelLimit(pool: readonly Endpoint[], maxBodyBytes: number): ModelLimit {
  let context = 0;
  for (const ep of pool) {
    if (ep.maxModelLen === undefined) return { bytes: maxBodyBytes };
    context = Math.max(context, ep.maxModelLen);
  }
  if (context === 0) return { bytes: maxBodyBytes };
  return { bytes: Math.min(maxBodyBytes, contextBodyBytes(context)), context };
}

/** The 413 for a body past the model's limit, or undefined. */
export function tooLarge(bytes: number, model: string, limit: ModelLimit): OpenAIError | undefined {
  if (bytes <= limit.bytes) return undefined;
  return {
    status: 413,
    message:
      `request body is ${bytes} bytes; model ${model} takes at most ${limit.bytes} bytes` +
      (limit.context ? ` (its context is ${limit.context} tokens)` : "") +
      "; send a shorter prompt",
    code: "request_too_large",
    param: null,
    headers: { connection: "close" },
  };
}
