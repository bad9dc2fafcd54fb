// Sends one request to an engine and relays the answer: non-streaming bodies are buffered (small, and a failure
// mid-body can still be retried elsewhere); SSE streams are relayed chunk by chunk with back-pressure.
//
// Built on undici's dispatch handler rather than `request()`: no Readable stream, promise chain or abort-signal
// listener per response, so the per-request cost stays small at thousands of requests per second.
import type { ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import type { Endpoint } from "../endpoints/endpoints.js";
import { errorBody } from "./errors.js";

export interface PhaseTimeouts {
  /** TCP connect to the engine. */
  connectMs: number;
  /** From sending to the response headers (non-streaming engines send headers when generation is done). */
  firstByteMs: number;
  /** The same for `stream: true` requests: engines send a stream's headers as soon as they accept it. */
  streamFirstByteMs: number;
  /** Longest silence between two body chunks. */
  idleMs: number;
}

export const defaultTimeouts: PhaseTimeouts = {
  connectMs: 2000,
  firstByteMs: 120_000,
  streamFirstByteMs: 30_000,
  idleMs: 30_000,
};

/** One client request's cancellation: the client went away, so whatever attempt is in flight stops. */
export class Cancellation {
  cancelled = false;
  private stop?: (err: Error) => void;

  /** The attempt in flight tells how to stop it (undefined when it is over). */
  bind(stop: ((err: Error) => void) | undefined): void {
    this.stop = stop;
    if (this.cancelled && stop) stop(new Error("client went away"));
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.stop?.(new Error("client went away"));
  }
}

export type FailureReason = "connect" | "timeout" | "reset" | "aborted";

/** Ends attempts still waiting for headers from an endpoint that failed its health checks (they are retried). */
export class EndpointUnhealthy extends Error {
  constructor(id: string) {
    super(`endpoint ${id} failed its health checks`);
  }
}

export interface StreamObserver {
  /** First body byte seen (TTFT). */
  onFirstChunk(): void;
  /** Number of `data:` events in a chunk (≈ tokens; the final usage event corrects it). */
  onEvents(count: number): void;
  /** `usage` object from the final event, when the client asked for it. */
  onUsage(usage: { prompt_tokens: number; completion_tokens: number }): void;
}

export type RelayOutcome = "ok" | "client-gone" | "upstream-failed";

/** An engine's answer, headers received; exactly one of `readAll`, `relay` or `dump` consumes the body. */
export interface UpstreamResponse {
  kind: "response";
  status: number;
  contentType: string | undefined;
  /** The whole body; rejects if the engine fails (or the client goes away) before its end. */
  readAll(): Promise<Buffer>;
  /** Relay an SSE body to the client with back-pressure (see `relay` below). */
  relay(res: ServerResponse, obs: StreamObserver): Promise<RelayOutcome>;
  /** Discard the body. */
  dump(): Promise<void>;
}

export type Attempt = UpstreamResponse | { kind: "failed"; reason: FailureReason; error: Error };

const CONTENT_TYPE = "content-type";

/** Response body sink: buffers until a consumer attaches, then hands chunks straight to it. */
class Exchange implements Dispatcher.DispatchHandler {
  private settle?: (a: Attempt) => void;
  private chunks: Buffer[] = [];
  private length = 0;
  private done = false;
  private failure?: Error;
  private resumeFn?: () => void;
  private abortFn?: (err: Error) => void;
  /** Set by the consumer: receives chunks, the end, and a failure. */
  private sink?: { data(c: Buffer): boolean; end(): void; error(e: Error): void };

  constructor(
    private readonly cancel: Cancellation,
    settle: (a: Attempt) => void,
    private readonly waiting?: Set<(err: Error) => void>,
  ) {
    this.settle = settle;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    this.cancel.bind(abort);
    this.waiting?.add(abort);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: the real answer follows
    if (this.abortFn) this.waiting?.delete(this.abortFn);
    this.resumeFn = resume;
    let contentType: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const k = rawHeaders[i]!;
      if (k.length === 12 && k.toString("latin1").toLowerCase() === CONTENT_TYPE) {
        contentType = rawHeaders[i + 1]!.toString("latin1");
        break;
      }
    }
    const settle = this.settle!;
    this.settle = undefined;
    settle({
      kind: "response",
      status: statusCode,
      contentType,
      readAll: () => this.readAll(),
      relay: (res, obs) => this.relay(res, obs),
      dump: () =>
        this.readAll().then(
          () => undefined,
          () => undefined,
        ),
    });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.sink) return this.sink.data(chunk);
    this.chunks.push(chunk);
    this.length += chunk.length;
    return true;
  }

  onComplete(): void {
    this.done = true;
    this.cancel.bind(undefined);
    this.sink?.end();
  }

  onError(err: Error): void {
    this.cancel.bind(undefined);
    if (this.abortFn) this.waiting?.delete(this.abortFn);
    if (this.settle) {
      const settle = this.settle;
      this.settle = undefined;
      settle({ kind: "failed", reason: classify(err as Error & { code?: string }, this.cancel), error: err });
      return;
    }
    this.failure = err;
    this.sink?.error(err);
  }

  private readAll(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const whole = () => (this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length));
      if (this.failure) return reject(this.failure);
      if (this.done) return resolve(whole());
      this.sink = {
        data: (c) => {
          this.chunks.push(c);
          this.length += c.length;
          return true;
        },
        end: () => resolve(whole()),
        error: reject,
      };
    });
  }

  /**
   * Resolves "ok" at the end, "client-gone" if the client left (the engine request is aborted), or
   * "upstream-failed" after writing an error event and ending the stream.
   */
  private relay(res: ServerResponse, obs: StreamObserver): Promise<RelayOutcome> {
    return new Promise((resolve) => {
      let first = true;
      let finished = false;
      const finish = (r: RelayOutcome) => {
        if (finished) return;
        finished = true;
        res.off("close", onClose);
        resolve(r);
      };
      const onClose = () => {
        if (!res.writableFinished) {
          this.abortFn?.(new Error("client went away"));
          finish("client-gone");
        }
      };
      res.on("close", onClose);
      const onDrain = () => this.resumeFn?.();
      const data = (chunk: Buffer): boolean => {
        if (first) {
          first = false;
          obs.onFirstChunk();
        }
        let n = 0;
        for (let i = chunk.indexOf(DATA); i !== -1; i = chunk.indexOf(DATA, i + 6)) n++;
        if (n > 0) obs.onEvents(n);
        const u = chunk.indexOf(USAGE);
        if (u !== -1) readUsage(chunk, u, obs);
        if (res.write(chunk)) return true;
        res.once("drain", onDrain);
        return false;
      };
      const end = () => {
        res.end();
        finish("ok");
      };
      const error = (err: Error) => {
        if (finished) return;
        if (res.destroyed) return finish("client-gone");
        const event = errorBody({
          status: 502,
          message: `upstream engine failed mid-stream: ${err.message}`,
          code: "upstream_error",
        });
        res.end(`data: ${event}\n\ndata: [DONE]\n\n`);
        finish("upstream-failed");
      };
      // Chunks that arrived before the relay started go first.
      const early = this.chunks;
      this.chunks = [];
      this.length = 0;
      for (const c of early) data(c);
      if (this.failure) return error(this.failure);
      if (this.done) return end();
      // While those were buffered the engine's body kept flowing; later chunks pause it when the client is slow.
      this.sink = { data, end, error };
    });
  }
}

/** Send the request; resolves when the engine's response headers arrive, or with the failure before them. */
export function sendUpstream(
  ep: Endpoint,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  cancel: Cancellation,
  t: PhaseTimeouts,
): Promise<Attempt> {
  return new Promise((resolve) => {
    const exchange = new Exchange(cancel, resolve, ep.awaitingHeaders);
    if (cancel.cancelled) {
      resolve({ kind: "failed", reason: "aborted", error: new Error("client went away") });
      return;
    }
    try {
      ep.pool.dispatch(
        { path, method: "POST", headers, body, headersTimeout: t.firstByteMs, bodyTimeout: t.idleMs },
        exchange,
      );
    } catch (err) {
      resolve({ kind: "failed", reason: "reset", error: err as Error });
    }
  });
}

function classify(err: Error & { code?: string }, cancel: Cancellation): FailureReason {
  if (cancel.cancelled) return "aborted";
  const code = err.code ?? "";
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT")
    return "timeout";
  if (err instanceof EndpointUnhealthy) return "timeout";
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH" || code === "UND_ERR_CONNECT")
    return "connect";
  return "reset";
}

const DATA = Buffer.from("data: ");
const USAGE = Buffer.from('"usage":{');

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
