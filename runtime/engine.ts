// The inference engine beside the sidecar: its LoRA load/unload API, readiness and metrics, per engine kind.
export type RuntimeEngine = "vllm" | "sglang";

const LORA_PATHS: Record<RuntimeEngine, { load: string; unload: string }> = {
  vllm: { load: "/v1/load_lora_adapter", unload: "/v1/unload_lora_adapter" },
  sglang: { load: "/load_lora_adapter", unload: "/unload_lora_adapter" },
};

export interface EngineAnswer {
  status: number;
  contentType: string;
  body: string;
}

export class EngineClient {
  constructor(
    readonly kind: RuntimeEngine | null,
    readonly endpoint: string,
    private readonly timeoutMs = 30_000,
  ) {}

  private async call(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<EngineAnswer> {
    const res = await fetch(`${this.endpoint}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, contentType: res.headers.get("content-type") ?? "text/plain", body: await res.text() };
  }

  private loraPaths(): { load: string; unload: string } {
    if (!this.kind) throw new Error("adapter management needs INFERENCE_ENGINE vllm or sglang");
    return LORA_PATHS[this.kind];
  }

  loadAdapter(name: string, path: string): Promise<EngineAnswer> {
    return this.call("POST", this.loraPaths().load, { lora_name: name, lora_path: path });
  }

  unloadAdapter(name: string): Promise<EngineAnswer> {
    return this.call("POST", this.loraPaths().unload, { lora_name: name });
  }

  models(): Promise<EngineAnswer> {
    return this.call("GET", "/v1/models", undefined, 5_000);
  }

  /** Ready when the engine answers its health endpoint with 200. */
  async ready(): Promise<{ ok: boolean; reason: string }> {
    try {
      const res = await this.call("GET", "/health", undefined, 2_000);
      return res.status === 200
        ? { ok: true, reason: "" }
        : { ok: false, reason: `engine /health answered ${res.status}` };
    } catch (err) {
      return { ok: false, reason: `engine ${this.endpoint} unreachable: ${(err as Error).message}` };
    }
  }

  async metricsText(path: string): Promise<string> {
    const res = await this.call("GET", path, undefined, 3_000);
    if (res.status !== 200) throw new Error(`engine ${path} answered ${res.status}`);
    return res.body;
  }
}

/**
 * INFERENCE_ENGINE as the webhook sets it (vllm|sglang|tgi|triton|llamacpp|unknown). vllm and sglang get adapter
 * management and standard metric names; any other engine still gets health, readiness and metrics passed through.
 */
export function runtimeEngine(value: string | undefined): RuntimeEngine | null {
  const v = (value ?? "vllm").toLowerCase();
  return v === "vllm" || v === "sglang" ? v : null;
}
