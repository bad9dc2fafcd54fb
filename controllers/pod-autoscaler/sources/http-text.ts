// One bounded GET for a metrics body: a deadline and a size cap, so an engine or endpoint that hangs or streams
// without end costs one tick's sample, not the controller's time or memory.
import { Agent, fetch, type Dispatcher } from "undici";

export interface HttpTextOptions {
  timeoutMs: number;
  maxBytes: number;
  dispatcher?: Dispatcher;
}

export const DEFAULT_HTTP_TEXT: HttpTextOptions = { timeoutMs: 2_000, maxBytes: 8 * 1024 * 1024 };

/**
 * Pods serve https with certificates no cluster name can verify (their address is an IP that changes with every
 * restart), so pod scrapes over https skip verification, as upstream's do; external endpoints are verified.
 */
export const UNVERIFIED_TLS: Dispatcher = new Agent({ connect: { rejectUnauthorized: false } });

export class HttpTextError extends Error {}

export async function fetchText(url: string, options: HttpTextOptions = DEFAULT_HTTP_TEXT): Promise<string> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(options.timeoutMs),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new HttpTextError(`GET ${url}: HTTP ${res.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).byteLength;
    if (size > options.maxBytes) throw new HttpTextError(`GET ${url}: body larger than ${options.maxBytes} bytes`);
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** `host` as it goes into a URL: IPv6 addresses in brackets. */
export const urlHost = (host: string): string => (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host);

/** `path` with exactly one leading slash. */
export const urlPath = (path: string | undefined): string => `/${(path ?? "").replace(/^\/+/, "")}`;
