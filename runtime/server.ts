// The engine runtime sidecar's HTTP API (AIBrix's runtime paths): adapter load/unload (direct or from an artifact),
// model download and listing, health, readiness, and the engine's metrics with standard `aibrix:*` names added.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { rm } from "node:fs/promises";
import path from "node:path";
import { Counter, Gauge, Registry } from "prom-client";
import { withStandardNames } from "../engines/standard-metrics.js";
import { fetchArtifact, parseArtifactUrl, type CredentialMap, type FetchSettings } from "./artifacts/index.js";
import { EngineClient, runtimeEngine, type EngineAnswer } from "./engine.js";

export interface RuntimeOptions {
  host?: string;
  port?: number;
  /** INFERENCE_ENGINE (vllm | sglang | other). */
  engine?: string | undefined;
  /** INFERENCE_ENGINE_ENDPOINT, e.g. http://localhost:8000. */
  engineEndpoint: string;
  /** METRIC_SCRAPE_PATH (default /metrics). */
  metricsPath?: string;
  /** Where delegated adapter downloads go (default /tmp/aibrix/adapters, the injected shared volume). */
  adapterDir?: string;
  /** Where model downloads go by default (default /tmp/aibrix/models). */
  modelDir?: string;
  fetch?: Partial<FetchSettings>;
  /** Artifacts downloading at once; further requests wait, up to `maxQueued` of them (then 429). */
  maxConcurrentDownloads?: number;
  maxQueued?: number;
}

export interface RunningRuntime {
  url: string;
  port: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_BODY = 1 << 20;

function field(body: Record<string, unknown>, name: string, required: boolean): string | undefined {
  const v = body[name];
  if (v === undefined || v === null || v === "") {
    if (required) throw new HttpError(400, `${name}: required`);
    return undefined;
  }
  if (typeof v !== "string") throw new HttpError(400, `${name}: must be a string`);
  return v;
}

function nameField(body: Record<string, unknown>, name: string): string {
  const v = field(body, name, true)!;
  if (!NAME.test(v)) throw new HttpError(400, `${name}: ${JSON.stringify(v)} must match ${NAME.source}`);
  return v;
}

function stringMap(body: Record<string, unknown>, name: string): CredentialMap | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw new HttpError(400, `${name}: must be an object`);
  const out: CredentialMap = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") out[k] = String(x);
  }
  return out;
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch (err) {
    throw new HttpError(400, `request body: not a JSON object (${(err as Error).message})`);
  }
}

/** A counting gate: at most `limit` holders, at most `queue` waiters, the rest refused. */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly limit: number,
    private readonly queue: number,
  ) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      if (this.waiting.length >= this.queue) throw new HttpError(429, "too many downloads queued; retry later");
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

interface ModelEntry {
  model_name: string;
  model_uri: string;
  local_dir: string;
  status: "downloading" | "downloaded" | "failed";
  error?: string;
  bytes?: number;
}

/** The runtime's own metrics (served after the engine's on /metrics). */
function runtimeMetrics(registry: Registry, adapters: Map<string, unknown>) {
  const downloads = new Counter({
    name: "aibrix_runtime_artifact_downloads_total",
    help: "Artifact downloads by source scheme and result",
    labelNames: ["scheme", "result"],
    registers: [registry],
  });
  const downloadBytes = new Counter({
    name: "aibrix_runtime_artifact_download_bytes_total",
    help: "Bytes downloaded for artifacts",
    registers: [registry],
  });
  new Gauge({
    name: "aibrix_runtime_adapters_loaded",
    help: "LoRA adapters loaded through this runtime",
    registers: [registry],
    collect() {
      this.set(adapters.size);
    },
  });
  const scrapeErrors = new Counter({
    name: "aibrix_runtime_engine_scrape_errors_total",
    help: "Failed scrapes of the engine's metrics",
    registers: [registry],
  });
  return { downloads, downloadBytes, scrapeErrors };
}

interface RuntimeParts {
  opts: RuntimeOptions;
  kind: ReturnType<typeof runtimeEngine>;
  engine: EngineClient;
  adapterDir: string;
  modelDir: string;
  settings: FetchSettings;
  gate: Gate;
  /** Adapters loaded through this runtime, and whether it downloaded them (then unload removes the files). */
  adapters: Map<string, { path: string; downloaded: boolean }>;
  models: Map<string, ModelEntry>;
  registry: Registry;
  counters: ReturnType<typeof runtimeMetrics>;
}

function runtimeParts(opts: RuntimeOptions): RuntimeParts {
  const kind = runtimeEngine(opts.engine);
  const adapters = new Map<string, { path: string; downloaded: boolean }>();
  const registry = new Registry();
  return {
    opts,
    kind,
    engine: new EngineClient(kind, opts.engineEndpoint.replace(/\/+$/, "")),
    adapterDir: opts.adapterDir ?? "/tmp/aibrix/adapters",
    modelDir: opts.modelDir ?? "/tmp/aibrix/models",
    settings: {
      concurrency: opts.fetch?.concurrency ?? 4,
      allowSuffixes: opts.fetch?.allowSuffixes ?? [],
      hubEndpoint: opts.fetch?.hubEndpoint ?? "https://huggingface.co",
      hubToken: opts.fetch?.hubToken,
    },
    gate: new Gate(opts.maxConcurrentDownloads ?? 2, opts.maxQueued ?? 16),
    adapters,
    models: new Map(),
    registry,
    counters: runtimeMetrics(registry, adapters),
  };
}

async function download(
  p: RuntimeParts,
  url: string,
  dir: string,
  credentials?: CredentialMap,
  config?: CredentialMap,
) {
  const scheme = parseArtifactUrl(url).kind === "local" ? "local" : url.split(":")[0]!;
  try {
    const got = await p.gate.run(() => fetchArtifact({ url, dir, credentials, additionalConfig: config }, p.settings));
    p.counters.downloads.inc({ scheme, result: "ok" });
    p.counters.downloadBytes.inc(got.bytes);
    return got;
  } catch (err) {
    p.counters.downloads.inc({ scheme, result: "error" });
    throw err;
  }
}

async function loadAdapter(p: RuntimeParts, body: Record<string, unknown>): Promise<EngineAnswer> {
  const name = nameField(body, "lora_name");
  const direct = field(body, "lora_path", false);
  const artifact = field(body, "artifact_url", false);
  if (!direct && !artifact) throw new HttpError(400, "lora_path or artifact_url: one is required");
  if (direct && artifact) throw new HttpError(400, "lora_path and artifact_url: give one, not both");
  let where = direct!;
  let downloaded = false;
  if (artifact) {
    try {
      parseArtifactUrl(artifact);
    } catch (err) {
      throw new HttpError(400, (err as Error).message);
    }
    const got = await download(
      p,
      artifact,
      path.join(p.adapterDir, name),
      stringMap(body, "credentials"),
      stringMap(body, "additional_config"),
    );
    where = got.path;
    downloaded = got.path === path.join(p.adapterDir, name);
  }
  const answer = await p.engine.loadAdapter(name, where);
  if (answer.status < 300) p.adapters.set(name, { path: where, downloaded });
  return answer;
}

async function unloadAdapter(p: RuntimeParts, body: Record<string, unknown>): Promise<EngineAnswer> {
  const name = nameField(body, "lora_name");
  const cleanup = body.cleanup_local !== false;
  const answer = await p.engine.unloadAdapter(name);
  const known = p.adapters.get(name);
  if (answer.status < 300 || answer.status === 404) {
    p.adapters.delete(name);
    if (cleanup && known?.downloaded) await rm(known.path, { recursive: true, force: true });
  }
  return answer;
}

async function downloadModel(p: RuntimeParts, body: Record<string, unknown>): Promise<ModelEntry> {
  const uri = field(body, "model_uri", true)!;
  let src;
  try {
    src = parseArtifactUrl(uri);
  } catch (err) {
    throw new HttpError(400, (err as Error).message);
  }
  const fallbackName = src.kind === "hub" ? src.repo.split("/")[1]! : path.basename(uri.replace(/\/+$/, ""));
  const name = body.model_name === undefined ? fallbackName : nameField(body, "model_name");
  if (!NAME.test(name)) throw new HttpError(400, `model_name: ${JSON.stringify(name)} must match ${NAME.source}`);
  const localDir = field(body, "local_dir", false) ?? path.join(p.modelDir, name);
  const existing = p.models.get(name);
  if (existing?.status === "downloading") return existing;
  const entry: ModelEntry = { model_name: name, model_uri: uri, local_dir: localDir, status: "downloading" };
  p.models.set(name, entry);
  // The download runs on; the caller polls GET /v1/model/list.
  void download(p, uri, localDir, stringMap(body, "credentials"), stringMap(body, "download_extra_config")).then(
    (got) => Object.assign(entry, { status: "downloaded", bytes: got.bytes, local_dir: got.path }),
    (err: Error) => Object.assign(entry, { status: "failed", error: err.message }),
  );
  return entry;
}

async function metricsText(p: RuntimeParts): Promise<string> {
  let engineText = "";
  try {
    const text = await p.engine.metricsText(p.opts.metricsPath ?? "/metrics");
    engineText = p.kind ? withStandardNames(text, p.kind) : text;
  } catch {
    p.counters.scrapeErrors.inc();
  }
  return engineText + (await p.registry.metrics());
}

function send(res: http.ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}
function relay(res: http.ServerResponse, a: EngineAnswer): void {
  send(res, a.status, a.body, a.contentType);
}

async function route(p: RuntimeParts, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = (req.url ?? "/").split("?")[0];
  const key = `${req.method} ${url}`;
  switch (key) {
    case "GET /healthz":
      return send(res, 200, { status: "ok" });
    case "GET /ready": {
      const r = await p.engine.ready();
      return r.ok ? send(res, 200, { status: "ready" }) : send(res, 503, { status: "not ready", reason: r.reason });
    }
    case "GET /metrics":
      return send(res, 200, await metricsText(p), p.registry.contentType);
    case "GET /v1/models":
      return relay(res, await p.engine.models());
    case "POST /v1/lora_adapter/load":
      return relay(res, await loadAdapter(p, await readJson(req)));
    case "POST /v1/lora_adapter/unload":
      return relay(res, await unloadAdapter(p, await readJson(req)));
    case "POST /v1/model/download":
      return send(res, 200, await downloadModel(p, await readJson(req)));
    case "GET /v1/model/list":
      return send(res, 200, { models: [...p.models.values()] });
    default:
      return send(res, 404, { error: { message: `no route ${key}` } });
  }
}

export async function startRuntime(opts: RuntimeOptions): Promise<RunningRuntime> {
  const p = runtimeParts(opts);
  const server = http.createServer((req, res) => {
    route(p, req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 502;
      // The rest of an oversized body is never read: close the connection so no client reuses it.
      if (status === 413 && !res.headersSent) res.setHeader("connection", "close");
      if (!res.headersSent) send(res, status, { error: { message: (err as Error).message } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8080, opts.host ?? "0.0.0.0", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host ?? "127.0.0.1"}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
