// The parse stage: read the body within the size limit, parse it as a JSON object, and check the fields the router
// itself relies on (the engine checks the rest).
import type { IncomingMessage } from "node:http";
import { parseJsonObject, readBody } from "../../serving/body.js";
import { HttpError } from "../../serving/errors.js";
import { badRequest, type OpenAIError } from "../forwarding/errors.js";
import type { Turns } from "./turns.js";

/** Bodies past this size are processed in steps that yield to the event loop. */
export const LARGE_BODY_BYTES = 256 * 1024;

export interface ParsedRequest {
  raw: Buffer;
  body: Record<string, unknown>;
}

/** The body, or the error to answer with (too large, not JSON, not an object). */
export async function readJsonBody(
  req: IncomingMessage,
  limit: number,
  largeSteps: Turns,
): Promise<ParsedRequest | { error: OpenAIError }> {
  try {
    const raw = await readBody(req, limit);
    // Large bodies: parse, then analyse the prompt, each in a turn of the event loop of its own, so other
    // requests are answered between the steps rather than after all of them.
    if (raw.length > LARGE_BODY_BYTES) await largeSteps.turn();
    return { raw, body: parseJsonObject(raw) };
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    const { status, message, code, param, headers } = err;
    return { error: { status, message, code, param, headers } };
  }
}

/** The first field the router cannot route on, as a 400; undefined when the body is usable. */
export function validateBody(path: string, body: Record<string, unknown>): OpenAIError | undefined {
  if (typeof body.model !== "string" || body.model === "") {
    return badRequest('model is required: set "model" to one of the names GET /v1/models lists', "model", {
      "x-error-no-model-in-request": "true",
    });
  }
  if (body.stream !== undefined && typeof body.stream !== "boolean") {
    return badRequest(`stream must be a boolean, got ${JSON.stringify(body.stream)}`, "stream", {
      "x-error-stream": "true",
    });
  }
  if (path === "/v1/chat/completions" && (!Array.isArray(body.messages) || body.messages.length === 0)) {
    return badRequest("messages is required for chat completions: a non-empty array of {role, content}", "messages", {
      "x-error-request-body-processing": "true",
    });
  }
  if (path === "/v1/embeddings") {
    const input = body.input;
    const ok = (typeof input === "string" && input !== "") || (Array.isArray(input) && input.length > 0);
    if (!ok) return badRequest("input is required for embeddings: a non-empty string or array", "input");
    if (body.stream !== undefined) return badRequest("stream is not allowed for embeddings; remove it", "stream");
  }
  if (path === "/v1/rerank") {
    if (typeof body.query !== "string") return badRequest("query is required for rerank: a string", "query");
    if (!Array.isArray(body.documents) || body.documents.length === 0) {
      return badRequest("documents is required for rerank: a non-empty array", "documents");
    }
  }
  return undefined;
}
