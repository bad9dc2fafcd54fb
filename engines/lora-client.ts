// Loading and unloading LoRA adapters on an engine, directly (vLLM's /v1/load_lora_adapter, SGLang's
// /load_lora_adapter) or through the runtime sidecar beside it, and reading which adapters an engine holds.
// Failures are classified once, here: transient ones are retried with backoff, permanent ones need a person.
import type { EngineKind } from "./metric-names.js";
import { loadThroughRuntime, runtimeUrl, unloadThroughRuntime, type SidecarAnswer } from "./runtime-client.js";

/** Where one engine pod answers. */
export interface EngineAddress {
  host: string;
  /** The engine's HTTP port (model.aibrix.ai/port, default 8000). */
  port: number;
  engine: EngineKind;
  /** The runtime sidecar's port when the pod runs one (upstream's sidecar mode). */
  sidecarPort?: number;
}

export interface AdapterArtifact {
  name: string;
  artifactURL: string;
  /** Secret data for the sidecar's download (never sent to the engine itself). */
  credentials?: Record<string, string>;
  additionalConfig?: Record<string, string>;
}

export class AdapterLoadError extends Error {
  constructor(
    message: string,
    /** True when retrying cannot help (bad path, refused request): the adapter is Failed until its spec changes. */
    readonly permanent: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Artifact schemes an engine cannot fetch itself: the runtime sidecar downloads them. */
const SIDECAR_ONLY = ["s3://", "gcs://", "tos://"];

/**
 * The `lora_path` an engine is given in direct mode: hub ids lose their scheme (`huggingface://org/x` → `org/x`),
 * local paths pass as they are; object-store URLs need the sidecar and are refused with what to do.
 */
export function enginePath(artifactURL: string): string {
  const hub = /^(?:huggingface|hf):\/\/(.+)$/.exec(artifactURL);
  if (hub) return hub[1]!;
  if (SIDECAR_ONLY.some((s) => artifactURL.startsWith(s))) {
    throw new AdapterLoadError(
      `artifact ${artifactURL} must be downloaded before the engine can load it, and this pod has no runtime ` +
        `sidecar: add the annotation model.aibrix.ai/sidecar-injection: "true" to the pod template, or use a ` +
        `huggingface:// or local path`,
      true,
    );
  }
  return artifactURL;
}

/** Connection-level failures worth retrying (the engine may be starting or restarting). */
function transientNetworkError(err: unknown): boolean {
  const code = (err as { cause?: { code?: string } })?.cause?.code ?? (err as { code?: string })?.code ?? "";
  const name = (err as { name?: string })?.name ?? "";
  return (
    name === "TimeoutError" ||
    name === "AbortError" ||
    [
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "EHOSTUNREACH",
      "ENETUNREACH",
      "EAI_AGAIN",
      "EPIPE",
      "UND_ERR_SOCKET",
    ].some((c) => code.includes(c))
  );
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

/** The engine's error message from an OpenAI-shaped or plain-text body. */
function engineMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: string } | string; message?: string; detail?: unknown };
    if (typeof body.error === "object" && body.error?.message) return body.error.message;
    if (typeof body.error === "string") return body.error;
    if (body.message) return body.message;
    if (body.detail) return JSON.stringify(body.detail);
  } catch {
    // plain text
  }
  return text.slice(0, 300);
}

export interface LoraClientOptions {
  /** Engine calls (default 30 s, upstream's). */
  timeoutMs?: number;
  /** Loads through the runtime sidecar, which downloads first (default 10 min). */
  sidecarTimeoutMs?: number;
  /** Counts engine calls (benchmarks report calls per adapter load). */
  onCall?(what: "list" | "load" | "unload", address: EngineAddress): void;
}

export class LoraClient {
  constructor(private readonly options: LoraClientOptions = {}) {}

  private async call(
    what: "list" | "load" | "unload",
    address: EngineAddress,
    url: string,
    init: { method: string; body?: unknown; apiKey?: string },
  ): Promise<{ status: number; text: string }> {
    this.options.onCall?.(what, address);
    const headers: Record<string, string> = {};
    if (init.body !== undefined) headers["content-type"] = "application/json";
    if (init.apiKey) headers.authorization = `Bearer ${init.apiKey}`;
    try {
      const res = await fetch(url, {
        method: init.method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
      return { status: res.status, text: await res.text() };
    } catch (err) {
      throw new AdapterLoadError(`${init.method} ${url}: ${describe(err)}`, !transientNetworkError(err));
    }
  }

  private static base(address: EngineAddress, port = address.port): string {
    const host = address.host.includes(":") ? `[${address.host}]` : address.host;
    return `http://${host}:${port}`;
  }

  /** The model ids the engine serves now (base model and loaded adapters), from its /v1/models. */
  async listModels(address: EngineAddress, apiKey?: string): Promise<string[]> {
    const url = `${LoraClient.base(address)}/v1/models`;
    const { status, text } = await this.call("list", address, url, { method: "GET", apiKey });
    if (status !== 200) throw new AdapterLoadError(`GET ${url}: HTTP ${status}: ${engineMessage(text)}`, false, status);
    try {
      const body = JSON.parse(text) as { data?: { id?: unknown }[] };
      return (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === "string");
    } catch {
      throw new AdapterLoadError(`GET ${url}: the answer is not a model list: ${text.slice(0, 100)}`, false, status);
    }
  }

  /** Loads `artifact` (the caller checked it is not loaded); an engine that says it already holds it is success. */
  async load(address: EngineAddress, artifact: AdapterArtifact): Promise<void> {
    const what = `loading adapter ${artifact.name} from ${artifact.artifactURL}`;
    if (address.sidecarPort) {
      this.options.onCall?.("load", address);
      const answer = await loadThroughRuntime(
        runtimeUrl(address.host, address.sidecarPort),
        {
          loraName: artifact.name,
          artifactUrl: artifact.artifactURL,
          credentials: artifact.credentials,
          additionalConfig: artifact.additionalConfig,
        },
        this.options.sidecarTimeoutMs ?? 600_000,
      );
      return LoraClient.settle(what, answer, true);
    }
    const url = `${LoraClient.base(address)}${address.engine === "sglang" ? "" : "/v1"}/load_lora_adapter`;
    const body = { lora_name: artifact.name, lora_path: enginePath(artifact.artifactURL) };
    const apiKey = artifact.additionalConfig?.["api-key"];
    const { status, text } = await this.call("load", address, url, { method: "POST", body, apiKey });
    LoraClient.settle(what, { ok: status === 200 || status === 201, status, message: engineMessage(text) }, true);
  }

  /** Unloads `name`; an engine that does not hold it is success. */
  async unload(address: EngineAddress, name: string, apiKey?: string): Promise<void> {
    const what = `unloading adapter ${name}`;
    if (address.sidecarPort) {
      this.options.onCall?.("unload", address);
      const answer = await unloadThroughRuntime(runtimeUrl(address.host, address.sidecarPort), name);
      return LoraClient.settle(what, answer, false);
    }
    const url = `${LoraClient.base(address)}${address.engine === "sglang" ? "" : "/v1"}/unload_lora_adapter`;
    const { status, text } = await this.call("unload", address, url, {
      method: "POST",
      body: { lora_name: name },
      apiKey,
    });
    LoraClient.settle(what, { ok: status === 200 || status === 201, status, message: engineMessage(text) }, false);
  }

  /**
   * Success, or the error to throw: "already loaded" on a load and "not found" on an unload are success (the
   * engine is where we want it); no answer, 5xx, 408 and 429 are the engine's state and worth a retry; other 4xx
   * will fail the same way again.
   */
  private static settle(what: string, answer: SidecarAnswer, loading: boolean): void {
    if (answer.ok) return;
    if (loading && answer.status === 400 && /already been loaded/i.test(answer.message)) return;
    if (!loading && answer.status === 404) return;
    const permanent = answer.status >= 400 && answer.status < 500 && answer.status !== 429 && answer.status !== 408;
    const status = answer.status === 0 ? "no answer" : `HTTP ${answer.status}`;
    throw new AdapterLoadError(`${what}: ${status}: ${answer.message}`, permanent, answer.status || undefined);
  }
}
