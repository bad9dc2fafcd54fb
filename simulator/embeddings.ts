// `/v1/embeddings` in vLLM's shape: deterministic unit vectors derived from the input's tokens, so equal inputs embed
// equally and a client's parsing, batching and base64 decoding are exercised for real.
import { tokenize } from "../api/tokens.js";
import { badRequest } from "./openai.js";

/** Width of the simulated embedding (a common size for small embedding models). */
export const EMBEDDING_DIMENSIONS = 1024;

export interface EmbeddingRequest {
  model: string;
  /** Token ids of each input. */
  inputs: number[][];
  encoding: "float" | "base64";
}

const isTokenIds = (v: unknown): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === "number" && Number.isInteger(t) && t >= 0);

export function parseEmbeddingRequest(body: unknown): EmbeddingRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("request body: must be a JSON object");
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== "string" || b.model === "") throw badRequest("model: a model name is required", "model");
  const input = b.input;
  let inputs: number[][];
  if (typeof input === "string") inputs = [tokenize(input)];
  else if (isTokenIds(input)) inputs = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === "string")) {
    inputs = input.map((x) => tokenize(x as string));
  } else if (Array.isArray(input) && input.length > 0 && input.every(isTokenIds)) inputs = input as number[][];
  else {
    throw badRequest(
      "input: must be a string, a list of strings, a list of token ids, or a list of token-id lists",
      "input",
    );
  }
  if (inputs.some((t) => t.length === 0))
    throw badRequest("input: every input must contain at least one token", "input");
  const encoding = b.encoding_format ?? "float";
  if (encoding !== "float" && encoding !== "base64") {
    throw badRequest(`encoding_format: ${JSON.stringify(encoding)} must be "float" or "base64"`, "encoding_format");
  }
  if (b.dimensions !== undefined && b.dimensions !== null && b.dimensions !== EMBEDDING_DIMENSIONS) {
    throw badRequest(
      `dimensions: ${JSON.stringify(b.dimensions)}: this model does not support matryoshka representation; ` +
        `omit it (embeddings have ${EMBEDDING_DIMENSIONS} dimensions)`,
      "dimensions",
    );
  }
  return { model: b.model, inputs, encoding };
}

/** A unit vector determined by the token ids (xorshift over an FNV-1a seed). */
export function embeddingOf(tokens: readonly number[]): Float32Array {
  let h = 0x811c9dc5;
  for (const t of tokens) h = Math.imul(h ^ t, 0x01000193);
  let x = h >>> 0 || 1;
  const v = new Float32Array(EMBEDDING_DIMENSIONS);
  let norm = 0;
  for (let i = 0; i < v.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const r = (x >>> 0) / 0xffffffff - 0.5;
    v[i] = r;
    norm += r * r;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < v.length; i++) v[i]! *= scale;
  return v;
}

export function embeddingResponse(id: string, created: number, req: EmbeddingRequest): unknown {
  const data = req.inputs.map((tokens, index) => {
    const v = embeddingOf(tokens);
    const embedding = req.encoding === "base64" ? Buffer.from(v.buffer).toString("base64") : Array.from(v);
    return { index, object: "embedding", embedding };
  });
  const prompt = req.inputs.reduce((n, t) => n + t.length, 0);
  return {
    id,
    object: "list",
    created,
    model: req.model,
    data,
    usage: { prompt_tokens: prompt, total_tokens: prompt, completion_tokens: 0, prompt_tokens_details: null },
  };
}
