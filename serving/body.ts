// Request bodies, bounded: a size cap checked against the declared length before reading and against the bytes as
// they arrive, and a nesting-depth cap checked by one byte scan before JSON.parse sees the text.
import type { IncomingMessage } from "node:http";
import { HttpError } from "./errors.js";

/** Deepest JSON nesting accepted: real requests nest a handful of levels (tools schemas a few dozen). */
export const DEFAULT_MAX_DEPTH = 64;

/**
 * Reads the whole body, or throws a 413 `HttpError` as soon as it is known to exceed `maxBytes` (the connection is
 * then closed after the answer rather than drained: a client that sends too much is not read further).
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new HttpError(413, `request body exceeds ${maxBytes} bytes; send a smaller request`, "request_too_large", null, {
      connection: "close",
    });
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > maxBytes) return reject(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        req.off("data", onData);
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on("data", onData);
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on("error", reject);
    req.on("close", () => {
      if (!req.complete) reject(Object.assign(new Error("aborted"), { code: "ECONNRESET" }));
    });
  });
}

/** Depth of the deepest array/object nesting in JSON text, stopping early once past `limit`. */
export function jsonDepthExceeds(buf: Buffer, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (b === 0x22) {
      // Jump to the closing quote (memchr speed: strings are most of a prompt's bytes), skipping escaped ones.
      for (;;) {
        const q = buf.indexOf(0x22, i + 1);
        if (q === -1) return false;
        let slashes = 0;
        while (buf[q - 1 - slashes] === 0x5c) slashes++;
        i = q;
        if (slashes % 2 === 0) break;
      }
    } else if (b === 0x7b || b === 0x5b) {
      if (++depth > limit) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}

/** Parses a JSON object body, or throws a 400 naming what is wrong. */
export function parseJsonObject(buf: Buffer, maxDepth = DEFAULT_MAX_DEPTH): Record<string, unknown> {
  if (jsonDepthExceeds(buf, maxDepth)) {
    throw new HttpError(400, `request body nests deeper than ${maxDepth} levels`, "invalid_request", null, {
      "x-error-request-body-processing": "true",
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString("utf8"));
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`, "invalid_request", null, {
      "x-error-request-body-processing": "true",
    });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, "request body must be a JSON object", "invalid_request", null, {
      "x-error-request-body-processing": "true",
    });
  }
  return parsed as Record<string, unknown>;
}
