// One error shape for every server: OpenAI's {"error":{"message","type","code","param"}}, the type implied by the
// status, so clients and SDKs read errors the router makes and errors engines make alike.
import type { ServerResponse } from "node:http";

/** OpenAI's `type` for an HTTP status. */
export function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status === 503) return "overloaded_error";
  if (status >= 400 && status < 500) return "invalid_request_error";
  return "api_error";
}

export interface ErrorFields {
  status: number;
  message: string;
  code: string | null;
  param?: string | null;
}

export function errorJson(e: ErrorFields): string {
  return JSON.stringify({
    error: { message: e.message, type: errorType(e.status), code: e.code, param: e.param ?? null },
  });
}

/** A refusal to answer with: thrown by body readers and handlers, sent by the server skeleton. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  json(): string {
    return errorJson(this);
  }

  send(res: ServerResponse, extraHeaders?: Record<string, string>): void {
    sendErrorJson(res, this.status, this.json(), { ...extraHeaders, ...this.headers });
  }
}

/** Writes an error body; a response already under way is cut off instead (its status is gone). */
export function sendErrorJson(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}
