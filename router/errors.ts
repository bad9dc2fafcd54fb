// OpenAI-shaped errors: {"error":{"message","type","code","param"}} with the type implied by the status.
import type { ServerResponse } from "node:http";
import { errorJson, errorType, sendErrorJson } from "../serving/errors.js";

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
