// Static discovery: a YAML file of endpoints for one machine, reloaded when the file changes.
//
//   endpoints:
//     - model: llama-3-8b            # required
//       url: http://127.0.0.1:8001   # or address: 127.0.0.1:8001
//       gpu: H100                    # optional (gpuType also accepted)
//       engine: vllm                 # vllm (default) | sglang
//       adapters: [sql-lora]         # optional
//       metricsPort: 9100            # optional
//       kvEvents: tcp://127.0.0.1:5557   # optional; replay: tcp://127.0.0.1:5558
//       labels: {zone: a}            # optional, for the external-filter header
//       config: {defaultProfile: fast, profiles: {fast: {routingStrategy: least-request}}}  # optional, as the
//                                    # model.aibrix.ai/config annotation (a mapping or its JSON text)
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import type { EngineKind } from "../../engines/metric-names.js";
import type { EndpointSpec } from "../endpoints/endpoints.js";
import { ConfigProfileError, parseConfigProfiles } from "../profiles/config-profile.js";
import type { Discovery, DiscoverySnapshot } from "./types.js";

export class EndpointFileError extends Error {}

export interface StaticEndpointInput {
  model: string;
  url?: string;
  address?: string;
  gpu?: string;
  gpuType?: string;
  engine?: string;
  adapters?: string[];
  metricsPort?: number;
  kvEvents?: string;
  kvEventsReplay?: string;
  labels?: Record<string, string>;
  config?: unknown;
}

function fail(where: string, value: unknown, rule: string): never {
  throw new EndpointFileError(`${where}: ${JSON.stringify(value)} ${rule}`);
}

/** Validate and convert one entry; errors name the field, the value and the rule. */
export function toEndpointSpec(input: unknown, where: string): EndpointSpec {
  if (typeof input !== "object" || input === null || Array.isArray(input)) fail(where, input, "must be a mapping");
  const e = input as Record<string, unknown>;
  if (typeof e.model !== "string" || e.model.trim() === "")
    fail(`${where}.model`, e.model, "must be a non-empty string");
  const addr = e.url ?? e.address;
  if (typeof addr !== "string")
    fail(`${where}.url`, addr, "must be a string like http://127.0.0.1:8000 (or set address)");
  let host: string;
  let port: number;
  try {
    const u = new URL(addr.includes("://") ? addr : `http://${addr}`);
    if (u.protocol !== "http:") fail(`${where}.url`, addr, "must use http:// (engines are reached over plain HTTP)");
    host = u.hostname.replace(/^\[|\]$/g, "");
    port = u.port ? Number(u.port) : 80;
  } catch (err) {
    if (err instanceof EndpointFileError) throw err;
    fail(`${where}.url`, addr, "is not a valid URL or host:port");
  }
  const engine = (e.engine ?? "vllm") as string;
  if (engine !== "vllm" && engine !== "sglang") fail(`${where}.engine`, engine, "must be vllm or sglang");
  const adapters = e.adapters ?? [];
  if (!Array.isArray(adapters) || !adapters.every((a) => typeof a === "string")) {
    fail(`${where}.adapters`, adapters, "must be a list of adapter names");
  }
  const gpu = e.gpu ?? e.gpuType;
  if (gpu !== undefined && typeof gpu !== "string") fail(`${where}.gpu`, gpu, "must be a string such as H100");
  if (e.metricsPort !== undefined && !(Number.isInteger(e.metricsPort) && (e.metricsPort as number) > 0)) {
    fail(`${where}.metricsPort`, e.metricsPort, "must be a port number");
  }
  if (e.kvEvents !== undefined && typeof e.kvEvents !== "string") {
    fail(`${where}.kvEvents`, e.kvEvents, "must be a ZMQ endpoint such as tcp://127.0.0.1:5557");
  }
  const labels = e.labels ?? {};
  if (typeof labels !== "object" || labels === null || Array.isArray(labels)) {
    fail(`${where}.labels`, labels, "must be a mapping of strings");
  }
  let config;
  try {
    config = e.config === undefined ? undefined : parseConfigProfiles(e.config, `${where}.config`);
  } catch (err) {
    if (err instanceof ConfigProfileError) throw new EndpointFileError(err.message);
    throw err;
  }
  const hostPort = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return {
    id: hostPort,
    host,
    port,
    model: e.model.trim(),
    adapters: adapters as string[],
    engine: engine as EngineKind,
    gpuType: gpu as string | undefined,
    metricsPort: e.metricsPort as number | undefined,
    kvEvents:
      typeof e.kvEvents === "string"
        ? { endpoint: e.kvEvents, replayEndpoint: typeof e.kvEventsReplay === "string" ? e.kvEventsReplay : undefined }
        : undefined,
    labels: Object.fromEntries(Object.entries(labels as Record<string, unknown>).map(([k, v]) => [k, String(v)])),
    ...(config ? { config } : {}),
  };
}

export function parseEndpointFile(text: string, file = "endpoints file"): EndpointSpec[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new EndpointFileError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { endpoints?: unknown } | null)?.endpoints;
  if (!Array.isArray(list)) {
    throw new EndpointFileError(`${file}: "endpoints" must be a list of {model, url, …} entries`);
  }
  const specs = list.map((e, i) => toEndpointSpec(e, `${file}: endpoints[${i}]`));
  const seen = new Set<string>();
  for (const [i, s] of specs.entries()) {
    if (seen.has(s.id)) fail(`${file}: endpoints[${i}].url`, s.id, "is listed twice; each address may appear once");
    seen.add(s.id);
  }
  return specs;
}

/** A fixed list, given in code (tests, `aibrix-ts local`). */
export class StaticDiscovery implements Discovery {
  constructor(private specs: EndpointSpec[]) {}
  private onChange?: (s: DiscoverySnapshot) => void;

  async start(onChange: (snapshot: DiscoverySnapshot) => void): Promise<void> {
    this.onChange = onChange;
    onChange(this.snapshot());
  }

  /** Replace the list (e.g. an engine was added). */
  set(specs: EndpointSpec[]): void {
    this.specs = specs;
    this.onChange?.(this.snapshot());
  }

  private snapshot(): DiscoverySnapshot {
    return { endpoints: this.specs, models: [...new Set(this.specs.map((s) => s.model))] };
  }

  async close(): Promise<void> {}
}

/** The YAML file, reloaded on change; a bad edit is reported and the last good list is kept. */
export class FileDiscovery implements Discovery {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    private readonly onReloadError: (err: Error) => void = () => {},
  ) {}

  private async load(): Promise<DiscoverySnapshot> {
    const specs = parseEndpointFile(await readFile(this.file, "utf8"), this.file);
    return { endpoints: specs, models: [...new Set(specs.map((s) => s.model))] };
  }

  async start(onChange: (snapshot: DiscoverySnapshot) => void): Promise<void> {
    onChange(await this.load());
    this.watcher = watch(this.file, () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.load().then(onChange, (err: Error) => this.onReloadError(err));
      }, 100);
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
