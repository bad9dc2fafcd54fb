// Sends one request to an engine and relays the answer: non-streaming bodies are buffered (small, and a failure
// mid-body can still be retried elsewhere); SSE streams are relayed chunk by chunk with back-pressure.
import type { ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import type { Endpoint } from "./endpoints.js";
import { errorBody } from "./errors.js";

export interface PhaseTimeouts {
  /** TCP connect to the engine. */
  connectMs: number;
  /** From sending to the response headers (non-streaming engines send headers when generation is done). */
  firstByteMs: number;
  /** Longest silence between two body chunks. */
  idleMs: number;
}

export const defaultTimeouts: PhaseTimeouts = { connectMs: 2000, firstByteMs: 300_000, idleMs: 60_000 };

export type Attempt =
  | {
      kind: "response";
      status: number;
      headers: Dispatcher.ResponseData["headers"];
      body: Dispatcher.ResponseData["body"];
    }
  | { kind: "failed"; reason: "connect" | "timeout" | "reset" | "aborted"; error: Error };

export async function sendUpstream(
  ep: Endpoint,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  signal: AbortSignal,
  t: PhaseTimeouts,
): Promise<Attempt> {
  try {
    const r = await ep.pool.request({
      path,
      method: "POST",
      headers,
      body,
      signal,
      headersTimeout: t.firstByteMs,
      bodyTimeout: t.idleMs,
    });
    return { kind: "response", status: r.statusCode, headers: r.headers, body: r.body };
  } catch (err) {
    return { kind: "failed", reason: classify(err as Error, signal), error: err as Error };
  }
}

function classify(err: Error & { code?: string }, signal: AbortSignal): "connect" | "timeout" | "reset" | "aborted" {
  if (signal.aborted) return "aborted";
  const code = err.code ?? "";
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT")
    return "timeout";
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH" || code === "UND_ERR_CONNECT")
    return "connect";
  return "reset";
}

/** Reads a whole (non-streaming) body; rejects on upstream failure. */
export async function readAll(body: Dispatcher.ResponseData["body"]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let len = 0;
  for await (const c of body) {
    chunks.push(c as Buffer);
    len += (c as Buffer).length;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, len);
}

export interface StreamObserver {
  /** First body byte seen (TTFT). */
  onFirstChunk(): void;
  /** Number of `data:` events in a chunk (≈ tokens; the final usage event corrects it). */
  onEvents(count: number): void;
  /** `usage` object from the final event, when the client asked for it. */
  onUsage(usage: { prompt_tokens: number; completion_tokens: number }): void;
}

const DATA = Buffer.from("data: ");
const USAGE = Buffer.from('"usage":{');

/**
 * Relay an SSE body to the client with back-pressure. Resolves "ok" at the end, "client-gone" if the client left
 * (the caller aborts upstream), or "upstream-failed" after writing an error event and ending the stream.
 */
export function relayStream(
  body: Dispatcher.ResponseData["body"],
  res: ServerResponse,
  obs: StreamObserver,
): Promise<"ok" | "client-gone" | "upstream-failed"> {
  return new Promise((resolve) => {
    let first = true;
    let done = false;
    const finish = (r: "ok" | "client-gone" | "upstream-failed") => {
      if (done) return;
      done = true;
      res.off("close", onClose);
      resolve(r);
    };
    const onClose = () => {
      if (!res.writableFinished) {
        body.destroy();
        finish("client-gone");
      }
    };
    res.on("close", onClose);
    body.on("data", (chunk: Buffer) => {
      if (first) {
        first = false;
        obs.onFirstChunk();
      }
      let n = 0;
      for (let i = chunk.indexOf(DATA); i !== -1; i = chunk.indexOf(DATA, i + 6)) n++;
      if (n > 0) obs.onEvents(n);
      const u = chunk.indexOf(USAGE);
      if (u !== -1) readUsage(chunk, u, obs);
      if (!res.write(chunk)) {
        body.pause();
        res.once("drain", () => body.resume());
      }
    });
    body.on("end", () => {
      res.end();
      finish("ok");
    });
    body.on("error", (err: Error) => {
      if (done) return;
      if (res.destroyed) return finish("client-gone");
      const event = errorBody({
        status: 502,
        message: `upstream engine failed mid-stream: ${err.message}`,
        code: "upstream_error",
      });
      res.end(`data: ${event}\n\ndata: [DONE]\n\n`);
      finish("upstream-failed");
    });
  });
}

/** Parse the SSE event containing `"usage":{` and report it (only the final chunk of a stream carries one). */
function readUsage(chunk: Buffer, at: number, obs: StreamObserver): void {
  const start = chunk.lastIndexOf(DATA, at);
  if (start === -1) return;
  let end = chunk.indexOf("\n", at);
  if (end === -1) end = chunk.length;
  try {
    const ev = JSON.parse(chunk.toString("utf8", start + 6, end)) as {
      usage?: { prompt_tokens?: number; completion_tokens?: number };
    };
    const u = ev.usage;
    if (u && typeof u.completion_tokens === "number") {
      obs.onUsage({ prompt_tokens: u.prompt_tokens ?? 0, completion_tokens: u.completion_tokens });
    }
  } catch {
    // An event split across chunks: the count from onEvents stands.
  }
}
