// OpenAI-shaped errors: {"error":{"message","type","code","param"}} with the type implied by the status.
import type { ServerResponse } from "node:http";

export interface OpenAIError {
  status: number;
  message: string;
  code: string | null;
  param?: string | null;
  /** Diagnostic headers (`x-error-*`) and others such as `retry-after`. */
  headers?: Record<string, string>;
}

export function errorType(status: number): string {
  if (status === 400 || status === 404 || status === 413) return "invalid_request_error";
  if (status === 401) return "authentication_error";
  if (status === 429) return "rate_limit_error";
  if (status === 503) return "overloaded_error";
  return "api_error";
}

export function errorBody(e: Pick<OpenAIError, "status" | "message" | "code" | "param">): string {
  return JSON.stringify({
    error: { message: e.message, type: errorType(e.status), code: e.code, param: e.param ?? null },
  });
}

export function sendError(res: ServerResponse, e: OpenAIError, extraHeaders?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(e);
  res.writeHead(e.status, {
    ...extraHeaders,
    ...e.headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

export const badRequest = (message: string, param: string | null, headers?: Record<string, string>): OpenAIError => ({
  status: 400,
  message,
  code: "invalid_request",
  param,
  headers,
});
