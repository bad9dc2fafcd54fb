// The HTTP(S) server every deployable serves on: deadlines for headers and bodies, a cap on connections (overall and
// per client address), bounded request bodies and JSON nesting, one error shape, and a log that stays quiet about
// clients going away. One place, so a limit added here protects the router, simulator, webhooks, extender and users
// API alike.
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { HttpError } from "./errors.js";

export interface ServerLimits {
  /** Longest wait for a request's headers. */
  headersTimeoutMs: number;
  /** Longest wait for a whole request, body included (a body trickled a byte at a time is cut off here). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections over all clients; past it, idle keep-alive connections are closed first, then new ones refused. */
  maxConnections: number;
  /** Open connections from one client address; past it, that address's new connections are refused. */
  maxConnectionsPerClient: number;
  /** TLS handshakes slower than this are dropped. */
  handshakeTimeoutMs: number;
  /** How often deadlines are checked (Node's `connectionsCheckingInterval`). */
  checkIntervalMs: number;
}

export const defaultLimits: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  // Longer than the 60 s idle timeout of common load balancers, so they never send on a connection we just closed.
  keepAliveTimeoutMs: 65_000,
  maxConnections: 8192,
  // Above the 1,024-connection pools our own benchmarks open from one address.
  maxConnectionsPerClient: 2048,
  handshakeTimeoutMs: 10_000,
  checkIntervalMs: 1000,
};

/**
 * TLS settings for every HTTPS server: TLS 1.2+ with ECDHE key exchange and AEAD ciphers only (the suites Go's
 * crypto/tls, and so kube-apiserver, offers by default for TLS 1.2; TLS 1.3 suites are all AEAD with forward secrecy).
 */
export const TLS_CIPHERS = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

export const tlsDefaults = { minVersion: "TLSv1.2", ciphers: TLS_CIPHERS, honorCipherOrder: true } as const;

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;

export interface ServeOptions {
  limits?: Partial<ServerLimits>;
  /** Serve HTTPS with this key and certificate (the TLS settings above are applied). */
  tls?: { key: string; cert: string };
  log?: Logger;
  /** Answer for a handler that threw something other than an `HttpError` (default: a 500 in the OpenAI shape). */
  onUnexpected?: (err: Error, req: http.IncomingMessage, res: http.ServerResponse) => void;
}

/** Errors a client causes by going away or misbehaving on the wire: not ours, never logged above debug. */
export function isClientGone(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  const code = e?.code ?? "";
  return (
    code === "ECONNRESET" ||
    code === "EPIPE" ||
    code === "ECONNABORTED" ||
    code === "ERR_STREAM_PREMATURE_CLOSE" ||
    code === "ERR_STREAM_DESTROYED" ||
    code === "HPE_INVALID_EOF_STATE" ||
    e?.message === "aborted" ||
    e?.message === "client went away"
  );
}

/**
 * Logs at most `perWindow` lines per window for one kind of failure and counts the rest, so what a client sends
 * cannot grow the log.
 */
export class LogBudget {
  private windowStart = 0;
  private used = 0;
  private suppressed = 0;

  constructor(
    private readonly perWindow = 10,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether to log this one; when a new window opens, `onSuppressed` hears how many were dropped in the last. */
  take(onSuppressed?: (count: number) => void): boolean {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) onSuppressed?.(this.suppressed);
      this.windowStart = t;
      this.used = 0;
      this.suppressed = 0;
    }
    if (this.used < this.perWindow) {
      this.used++;
      return true;
    }
    this.suppressed++;
    return false;
  }
}

/** Counts open connections per client address and overall, refusing past the caps. */
class ConnectionGate {
  private byClient = new Map<string, number>();
  private total = 0;
  refused = 0;

  constructor(
    private readonly server: http.Server,
    private readonly limits: ServerLimits,
  ) {}

  admit(socket: Socket): boolean {
    const client = socket.remoteAddress ?? "";
    const mine = this.byClient.get(client) ?? 0;
    if (this.total >= this.limits.maxConnections) this.server.closeIdleConnections();
    if (mine >= this.limits.maxConnectionsPerClient || this.total >= this.limits.maxConnections) {
      this.refused++;
      return false;
    }
    this.byClient.set(client, mine + 1);
    this.total++;
    socket.once("close", () => {
      this.total--;
      const left = (this.byClient.get(client) ?? 1) - 1;
      if (left <= 0) this.byClient.delete(client);
      else this.byClient.set(client, left);
    });
    return true;
  }

  get open(): number {
    return this.total;
  }
}

export interface HardenedServer {
  server: http.Server;
  /** Connections refused by the caps so far. */
  refusedConnections(): number;
  openConnections(): number;
}

/** Creates (does not start) an HTTP or HTTPS server running `handler` under the limits. */
export function createServer(handler: Handler, options: ServeOptions = {}): HardenedServer {
  const limits = { ...defaultLimits, ...options.limits };
  const log = options.log;
  const failures = new LogBudget();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let out: Promise<void> | void;
    try {
      out = handler(req, res);
    } catch (err) {
      out = Promise.reject(err as Error);
    }
    if (out) out.catch((err: unknown) => handlerFailed(err as Error, req, res));
  };
  const handlerFailed = (err: Error, req: http.IncomingMessage, res: http.ServerResponse) => {
    if (err instanceof HttpError) return err.send(res);
    if (isClientGone(err) || res.destroyed) {
      log?.debug({ path: req.url, err: err.message }, "client went away");
      return;
    }
    if (failures.take((n) => log?.error({ suppressed: n }, "more request handler failures not logged"))) {
      log?.error({ err: err.message, stack: err.stack, path: req.url }, "request handler failed");
    }
    if (options.onUnexpected) return options.onUnexpected(err, req, res);
    new HttpError(500, `internal error: ${err.message}`, "internal_error").send(res);
  };
  const serverOptions: http.ServerOptions = {
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
  };
  const server: http.Server = options.tls
    ? https.createServer(
        { ...serverOptions, ...tlsDefaults, ...options.tls, handshakeTimeout: limits.handshakeTimeoutMs },
        onRequest,
      )
    : http.createServer(serverOptions, onRequest);
  const gate = new ConnectionGate(server, limits);
  server.on("connection", (socket: Socket) => {
    if (!gate.admit(socket)) socket.destroy();
  });
  // Malformed requests and timeouts on the wire: answer when the socket still can, log only at debug.
  server.on("clientError", (err: Error & { code?: string }, socket) => {
    log?.debug({ err: err.message, code: err.code }, "client error");
    if (!socket.writable || isClientGone(err)) return void socket.destroy();
    const status = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
    const body = new HttpError(status, `bad request: ${err.message}`, "bad_request").json();
    // Closed from our side once written: HTTP sockets are half-open, and a client that never reads nor closes
    // would otherwise keep the connection.
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      () => socket.destroy(),
    );
    setTimeout(() => socket.destroy(), 1000).unref();
  });
  if (options.tls) {
    server.on("tlsClientError", (err: Error) => log?.debug({ err: err.message }, "TLS handshake failed"));
  }
  return { server, refusedConnections: () => gate.refused, openConnections: () => gate.open };
}

/** Listens on `host:port` (0 = a free port) and resolves with the port bound. */
export async function listen(server: http.Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  return typeof addr === "object" && addr ? addr.port : port;
}

/** Stops accepting, drops every connection, and resolves when the server is closed. */
export function shutdown(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
