// Reading and writing vLLM's HTTP bodies on plain node:http: bounded JSON bodies in, JSON and raw chunks out.
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody as readBoundedBody } from "../serving/body.js";
import { HttpError as ServingError } from "../serving/errors.js";
import { HttpError, badRequest } from "./openai.js";

const MAX_BODY = 64 * 1024 * 1024;

/**
 * Writes one HTTP/1.1 chunk of a streaming (chunked) response straight to its socket: one string, one write, instead
 * of ServerResponse.write's framing in three pieces with a cork per call (thousands of streams make that cost count).
 * ServerResponse.end() still writes the terminating chunk, in order after these on the same socket.
 */
export function writeChunk(res: ServerResponse, text: string, ascii: boolean): void {
  if (text.length === 0) return;
  const socket = res.socket;
  if (!socket || !res.headersSent || socket.destroyed || !res.chunkedEncoding) {
    res.write(text);
    return;
  }
  const bytes = ascii ? text.length : Buffer.byteLength(text);
  socket.write(`${bytes.toString(16)}\r\n${text}\r\n`);
}

// eslint-disable-next-line no-control-regex
export const ASCII = /^[\x00-\x7f]*$/;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(res, e.status, e.body());
}

async function readBody(req: IncomingMessage): Promise<string> {
  try {
    return (await readBoundedBody(req, MAX_BODY)).toString("utf8");
  } catch (err) {
    if (err instanceof ServingError) {
      throw new HttpError(413, "BadRequestError", `request body: larger than ${MAX_BODY} bytes`);
    }
    throw err;
  }
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw badRequest(`request body: invalid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}
