// Loading and unloading LoRA adapters through a pod's runtime sidecar (AIBrix's sidecar mode): the sidecar fetches
// the artifact into the pod's shared volume and asks the engine beside it to load it.
export interface SidecarLoad {
  loraName: string;
  /** An s3://, gcs://, tos://, hf:// URL, or a path already on the pod. */
  artifactUrl: string;
  /** From the adapter's Secret: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, HF_TOKEN, … */
  credentials?: Record<string, string> | undefined;
  additionalConfig?: Record<string, string> | undefined;
}

export interface SidecarAnswer {
  ok: boolean;
  status: number;
  /** The sidecar's (or the engine's) words, for the ModelAdapter's condition message. */
  message: string;
}

/** The sidecar's base URL for a pod: http://<podIP>:<port> (the injected container listens on 8080). */
export function runtimeUrl(podIp: string, port = 8080): string {
  return podIp.includes(":") ? `http://[${podIp}]:${port}` : `http://${podIp}:${port}`;
}

async function post(url: string, body: unknown, timeoutMs: number): Promise<SidecarAnswer> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let message = text;
    try {
      const parsed = JSON.parse(text) as { error?: { message?: string }; message?: string };
      message = parsed.error?.message ?? parsed.message ?? text;
    } catch {
      // plain text (vLLM answers adapter loads in plain text)
    }
    return { ok: res.ok, status: res.status, message: message.trim() };
  } catch (err) {
    return { ok: false, status: 0, message: `runtime sidecar ${url} unreachable: ${(err as Error).message}` };
  }
}

/** Downloads (if needed) and loads an adapter. Downloads can be long: the default allows ten minutes. */
export function loadThroughRuntime(baseUrl: string, load: SidecarLoad, timeoutMs = 600_000): Promise<SidecarAnswer> {
  const isPath = load.artifactUrl.startsWith("/");
  return post(
    `${baseUrl}/v1/lora_adapter/load`,
    isPath
      ? { lora_name: load.loraName, lora_path: load.artifactUrl }
      : {
          lora_name: load.loraName,
          artifact_url: load.artifactUrl,
          ...(load.credentials ? { credentials: load.credentials } : {}),
          ...(load.additionalConfig ? { additional_config: load.additionalConfig } : {}),
        },
    timeoutMs,
  );
}

/** Unloads an adapter and removes its downloaded files from the pod. */
export function unloadThroughRuntime(baseUrl: string, loraName: string, timeoutMs = 30_000): Promise<SidecarAnswer> {
  return post(`${baseUrl}/v1/lora_adapter/unload`, { lora_name: loraName, cleanup_local: true }, timeoutMs);
}
