// One way to talk to kube-apiserver: JSON requests and watch streams over a pooled keep-alive agent, with the
// kubeconfig's credentials. Every informer, controller and writer in the project goes through this client.
import http from "node:http";
import https from "node:https";
import type * as k8s from "@kubernetes/client-node";

/** A non-2xx answer from the API server, with its Status reason (`NotFound`, `Conflict`, `Expired`, ...). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.status === 409;
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof KubeApiError && err.status === 409 && err.reason === "AlreadyExists";
export const isGone = (err: unknown): boolean => err instanceof KubeApiError && err.status === 410;

export type PatchType = "merge" | "json" | "strategic" | "apply";
const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
};

export interface RequestOptions {
  /** Request body, sent as JSON. */
  body?: unknown;
  patchType?: PatchType;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Counts requests by verb, for benchmarks and metrics (API load is a cost we report). */
export type RequestObserver = (method: string, path: string, status: number) => void;

/**
 * client-node hands out a fresh, non-pooling agent on every call, so each request paid a TLS handshake with a
 * client certificate. One keep-alive agent per client, built from the same TLS material, keeps connections open.
 */
function pooledAgent(fresh: unknown, cached: { agent?: https.Agent }): https.Agent | undefined {
  if (!(fresh instanceof https.Agent) || fresh.constructor !== https.Agent) return fresh as https.Agent | undefined;
  cached.agent ??= new https.Agent({ ...fresh.options, keepAlive: true, maxSockets: 64 });
  return cached.agent;
}

function errorFrom(method: string, path: string, status: number, text: string): KubeApiError {
  let reason = "";
  let message = text.slice(0, 300);
  try {
    const parsed = JSON.parse(text) as { reason?: string; message?: string };
    reason = parsed.reason ?? "";
    message = parsed.message ?? message;
  } catch {
    // not a Status object; keep the text
  }
  return new KubeApiError(status, reason, `${method} ${path.split("?")[0]}: HTTP ${status}: ${message}`);
}

/**
 * How long one application of the kubeconfig's credentials serves requests. client-go re-reads a token file once a
 * minute; a 401 answer drops them at once, so a rotated token or certificate is picked up by the next request.
 */
const CREDENTIALS_REUSE_MS = 10_000;

export class KubeClient {
  private readonly cached: { agent?: https.Agent } = {};
  private applied?: { at: number; options: Promise<https.RequestOptions> };
  private readonly observers: RequestObserver[] = [];

  constructor(readonly config: k8s.KubeConfig) {
    if (!config.getCurrentCluster()) throw new Error("kubeconfig has no current cluster; set current-context");
  }

  /** Called after every request with its verb, path and status (0 when no answer came). */
  observe(observer: RequestObserver): void {
    this.observers.push(observer);
  }

  /**
   * The kubeconfig's TLS material, auth header and pooled agent, applied at most once per CREDENTIALS_REUSE_MS:
   * client-node reads the certificate, key and CA files again and builds an agent on every application (about 17 µs
   * of CPU with file paths), on the path of every request a busy writer such as the extender's Bindings makes.
   */
  private credentials(): Promise<https.RequestOptions> {
    const now = Date.now();
    if (!this.applied || now - this.applied.at > CREDENTIALS_REUSE_MS) {
      const options: https.RequestOptions = { headers: {} };
      const ready = this.config.applyToHTTPSOptions(options).then(() => {
        options.agent = pooledAgent(options.agent, this.cached);
        return options;
      });
      const applied = { at: now, options: ready };
      this.applied = applied;
      // A failed application (an exec plugin that failed, say) is tried again by the next request.
      ready.catch(() => {
        if (this.applied === applied) this.applied = undefined;
      });
    }
    return this.applied.options;
  }

  private async open(method: string, path: string, opts: RequestOptions): Promise<http.IncomingMessage> {
    const cluster = this.config.getCurrentCluster()!;
    const url = new URL(path, cluster.server);
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const contentType = opts.patchType ? PATCH_CONTENT_TYPES[opts.patchType] : "application/json";
    const credentials = await this.credentials();
    const req: https.RequestOptions = {
      ...credentials,
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: {
        ...credentials.headers,
        accept: "application/json",
        ...(payload ? { "content-type": contentType } : {}),
      },
      signal: opts.signal,
    };
    const mod = url.protocol === "https:" ? https : http;
    return await new Promise((resolve, reject) => {
      const r = mod.request(req, (res) => {
        // Refused credentials (a rotated token, an expired certificate) are applied afresh by the next request.
        if (res.statusCode === 401) this.applied = undefined;
        resolve(res);
      });
      if (opts.timeoutMs) {
        r.setTimeout(opts.timeoutMs, () =>
          r.destroy(new Error(`${method} ${url.pathname}: no answer within ${opts.timeoutMs} ms`)),
        );
      }
      r.on("error", reject);
      if (payload) r.write(payload);
      r.end();
    });
  }

  /** One request; resolves with the parsed JSON body, rejects with KubeApiError on a non-2xx answer. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    let status = 0;
    try {
      const res = await this.open(method, path, { timeoutMs: 30_000, ...opts });
      status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString("utf8");
      if (status < 200 || status >= 300) throw errorFrom(method, path, status, text);
      return (text ? JSON.parse(text) : undefined) as T;
    } finally {
      for (const o of this.observers) o(method, path, status);
    }
  }

  get = <T = unknown>(path: string, opts?: RequestOptions) => this.request<T>("GET", path, opts);
  create = <T = unknown>(path: string, body: unknown) => this.request<T>("POST", path, { body });
  replace = <T = unknown>(path: string, body: unknown) => this.request<T>("PUT", path, { body });
  patch = <T = unknown>(path: string, body: unknown, patchType: PatchType = "merge") =>
    this.request<T>("PATCH", path, { body, patchType });
  delete = <T = unknown>(path: string, body?: unknown) => this.request<T>("DELETE", path, { body });

  /**
   * A watch stream: calls `onLine` with each decoded event until the server ends the stream, the signal aborts,
   * or the connection fails (rejects). A non-2xx answer to the watch request itself rejects with KubeApiError.
   */
  async stream(path: string, onLine: (event: unknown) => void, signal: AbortSignal): Promise<void> {
    const res = await this.open("GET", path, { signal });
    const status = res.statusCode ?? 0;
    for (const o of this.observers) o("WATCH", path, status);
    if (status < 200 || status >= 300) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw errorFrom("WATCH", path, status, Buffer.concat(chunks).toString("utf8"));
    }
    let rest = "";
    res.setEncoding("utf8");
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        rest += chunk;
        let nl: number;
        while ((nl = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, nl).trim();
          rest = rest.slice(nl + 1);
          if (line) onLine(JSON.parse(line));
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }

  close(): void {
    this.cached.agent?.destroy();
  }
}
