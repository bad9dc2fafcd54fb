// OpenAI-shaped errors: {"error":{"message","type","code","param"}} with the type implied by the status.
import type { ServerResponse } from "node:http";
import { errorJson, errorType, sendErrorJson } from "../../serving/errors.js";

export { errorType };

export interface OpenAIError {
  status: number;
  message: string;
  code: string | null;
  param?: string | null;
  /** Diagnostic headers (`x-error-*`) and others such as `retry-after`. */
  headers?: Record<string, string>;
}

export const errorBody = errorJson;

export function sendError(res: ServerResponse, e: OpenAIError, extraHeaders?: Record<string, string>): void {
  sendErrorJson(res, e.status, errorBody(e), { ...extraHeaders, ...e.headers });
}

export const badRequest = (message: string, param: string | null, headers?: Record<string, string>): OpenAIError => ({
  status: 400,
  message,
  code: "invalid_request",
  param,
  headers,
});

// Printable ASCII only: anything else in a header value is refused by Node (a 500) or misread by clients.
const HEADER_SAFE = /^[\x20-\x7e]{1,256}$/;

/** `value` when it can go into a response header as it is, else `fallback`. */
export function headerValue(value: string, fallback = "true"): string {
  return HEADER_SAFE.test(value) ? value : fallback;
}

const OPENAI_TYPES = new Set([
  "invalid_request_error",
  "authentication_error",
  "permission_error",
  "rate_limit_error",
  "overloaded_error",
  "api_error",
]);

/**
 * An engine's error body in the OpenAI vocabulary the router itself speaks, or undefined when it already is (or is
 * not a recognisable error: it then passes through as sent). vLLM answers `{"error":{…,"type":"BadRequestError",
 * "code":400}}`, older vLLM `{"object":"error",…}`, its API-key check `{"error":"Unauthorized"}`, FastAPI
 * `{"detail":…}`; the message is kept, `type` and `code` follow the status as in the router's own errors.
 */
export function openAIErrorFrom(status: number, body: Buffer): string | undefined {
  if (body.length > 64 * 1024) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null) return undefined;
  const d = doc as Record<string, unknown>;
  const inner =
    typeof d.error === "object" && d.error !== null
      ? (d.error as Record<string, unknown>)
      : d.object === "error"
        ? d
        : {};
  if (typeof inner.type === "string" && OPENAI_TYPES.has(inner.type) && typeof inner.code !== "number")
    return undefined;
  const message =
    typeof inner.message === "string"
      ? inner.message
      : typeof d.error === "string"
        ? d.error
        : typeof d.detail === "string"
          ? d.detail
          : undefined;
  if (message === undefined) return undefined;
  const code = typeof inner.code === "string" ? inner.code : status === 401 ? "invalid_api_key" : null;
  const param = typeof inner.param === "string" ? inner.param : null;
  return errorBody({ status, message, code, param });
}
