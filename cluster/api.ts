// A small Kubernetes REST client over the admin client certificate. The launcher and the end-to-end tests use it to
// talk to the loopback kube-apiserver without a kubeconfig round trip; keep-alive makes bursts of creates cheap.
import https from "node:https";

export interface ApiCredentials {
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** A non-2xx answer from kube-apiserver, carrying its `Status.message` (e.g. an admission denial). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly body: Record<string, unknown>,
  ) {
    const message = typeof body.message === "string" ? body.message : JSON.stringify(body).slice(0, 500);
    super(`${method} ${path} -> ${status}: ${message}`);
  }

  get reason(): string {
    return typeof this.body.reason === "string" ? this.body.reason : "";
  }

  get apiMessage(): string {
    return typeof this.body.message === "string" ? this.body.message : "";
  }
}

export class KubeApi {
  private readonly agent: https.Agent;

  constructor(readonly creds: ApiCredentials) {
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 32,
      ca: creds.caPem,
      cert: creds.certPem,
      key: creds.keyPem,
    });
  }

  /** Sends one request; resolves for any status (see `call` for the throwing form). */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<ApiResponse<T>> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    return await new Promise((resolve, reject) => {
      const req = https.request(
        new URL(path, this.creds.server),
        {
          method,
          agent: this.agent,
          headers: {
            accept: "application/json",
            ...(payload !== undefined
              ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              parsed = { message: text };
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Like `request`, but a non-2xx status throws an `ApiError`. */
  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<T> {
    const res = await this.request<T>(method, path, body, contentType);
    if (res.status < 200 || res.status >= 300) {
      throw new ApiError(res.status, method, path, res.body as Record<string, unknown>);
    }
    return res.body;
  }

  get<T = Record<string, unknown>>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  create<T = Record<string, unknown>>(path: string, obj: unknown): Promise<T> {
    return this.call<T>("POST", path, obj);
  }

  /** Server-side apply (big objects such as CRDs must not go through client-side apply). */
  apply<T = Record<string, unknown>>(path: string, obj: unknown, fieldManager = "aibrix-ts-tests"): Promise<T> {
    return this.call<T>(
      "PATCH",
      `${path}?fieldManager=${encodeURIComponent(fieldManager)}&force=true`,
      obj,
      "application/apply-patch+yaml",
    );
  }

  mergePatch<T = Record<string, unknown>>(path: string, patch: unknown): Promise<T> {
    return this.call<T>("PATCH", path, patch, "application/merge-patch+json");
  }

  async delete(path: string): Promise<void> {
    const res = await this.request("DELETE", path);
    if (res.status !== 404 && (res.status < 200 || res.status >= 300)) {
      throw new ApiError(res.status, "DELETE", path, res.body);
    }
  }

  /**
   * Opens a watch (`path` without `watch=1`) and calls `onEvent` for each event as it arrives. Resolves once the
   * stream is open; `stop()` ends it. Bookmarks are passed through like any other event.
   */
  async watch<T = Record<string, unknown>>(
    path: string,
    onEvent: (event: { type: string; object: T }) => void,
  ): Promise<{ stop(): void; closed: Promise<void> }> {
    const url = new URL(path, this.creds.server);
    url.searchParams.set("watch", "1");
    return await new Promise((resolve, reject) => {
      const req = https.request(url, { method: "GET", agent: false, ...this.tls() }, (res) => {
        if ((res.statusCode ?? 0) !== 200) {
          reject(new Error(`watch ${path} -> ${res.statusCode}`));
          res.resume();
          return;
        }
        let pending = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          pending += chunk;
          let nl = pending.indexOf("\n");
          while (nl >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            if (line.trim()) onEvent(JSON.parse(line) as { type: string; object: T });
            nl = pending.indexOf("\n");
          }
        });
        const closed = new Promise<void>((done) => res.on("close", () => done()));
        resolve({ stop: () => req.destroy(), closed });
      });
      req.on("error", reject);
      req.end();
    });
  }

  private tls() {
    return { ca: this.creds.caPem, cert: this.creds.certPem, key: this.creds.keyPem };
  }

  close(): void {
    this.agent.destroy();
  }
}
