// What the webhooks inject and enforce: the runtime sidecar, the GPU scheduler profile, the resource names that mean
// "this pod wants a GPU". Read from a YAML/JSON file, then overridden by flags; every field has a default.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { Scheduling } from "../api/labels.js";
import { packageVersion } from "../api/version.js";

export interface ProbeConfig {
  path: string;
  initialDelaySeconds: number;
  periodSeconds: number;
}

export interface ResourceList {
  cpu?: string;
  memory?: string;
}

export interface SidecarConfig {
  /** Container name; its presence is how injection recognises a pod it already handled. */
  name: string;
  image: string;
  command: string[];
  /** Port the runtime listens on (AIBrix's runtime uses 8080). */
  port: number;
  portName: string;
  /** Extra env for the sidecar, after the engine-pointing variables. */
  env: { name: string; value: string }[];
  liveness: ProbeConfig;
  readiness: ProbeConfig;
  resources: { requests: ResourceList; limits: ResourceList };
  /** Shared emptyDir where the runtime downloads LoRA adapters for the engine to load. */
  adaptersVolumeName: string;
  adaptersMountPath: string;
}

export interface WebhookConfig {
  sidecar: SidecarConfig;
  /**
   * Scheduler profile given to model pods that request GPUs and name no scheduler; empty (the default) switches
   * nothing. Set it only where that profile is deployed (the chart does when `gpuScheduler.enabled`): a pod pointed
   * at a scheduler that does not run stays Pending.
   */
  gpuSchedulerName: string;
  /** Extended resource names that count as GPUs. */
  gpuResourceNames: string[];
  /** Engine port when the pod carries no `model.aibrix.ai/port` label. */
  defaultEnginePort: number;
}

export function defaultWebhookConfig(): WebhookConfig {
  return {
    sidecar: {
      name: "aibrix-runtime",
      image: `aibrix-ts/aibrix-ts:${packageVersion()}`,
      command: ["aibrix-ts", "runtime", "--port", "8080"],
      port: 8080,
      portName: "metrics",
      env: [],
      liveness: { path: "/healthz", initialDelaySeconds: 3, periodSeconds: 2 },
      readiness: { path: "/ready", initialDelaySeconds: 5, periodSeconds: 10 },
      resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
      adaptersVolumeName: "adapter-storage",
      adaptersMountPath: "/tmp/aibrix/adapters",
    },
    gpuSchedulerName: "",
    gpuResourceNames: [Scheduling.gpuResource],
    defaultEnginePort: 8000,
  };
}

/** A configuration value that breaks a rule; the message names the field, the value and what to write instead. */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`webhook config: ${field}: ${JSON.stringify(value)} breaks rule "${rule}"`);
    this.name = "ConfigError";
  }
}

/** A partial configuration as written in a file (any subset of fields). */
export type WebhookConfigInput = {
  [K in keyof WebhookConfig]?: WebhookConfig[K] extends SidecarConfig ? Partial<SidecarConfig> : WebhookConfig[K];
};

export function loadWebhookConfigFile(file: string): WebhookConfigInput {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`webhook config: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new Error(`webhook config: ${file} is not valid YAML/JSON: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw new ConfigError("(root)", parsed, "must be a mapping");
  return parsed as WebhookConfigInput;
}

/** Merges the inputs over the defaults (later wins) and checks every field. */
export function resolveWebhookConfig(...inputs: (WebhookConfigInput | undefined)[]): WebhookConfig {
  const config = defaultWebhookConfig();
  for (const input of inputs) {
    if (!input) continue;
    const { sidecar, ...top } = input;
    Object.assign(config, dropUndefined(top));
    if (sidecar !== undefined) {
      if (typeof sidecar !== "object" || sidecar === null)
        throw new ConfigError("sidecar", sidecar, "must be a mapping");
      Object.assign(config.sidecar, dropUndefined(sidecar));
    }
  }
  checkConfig(config);
  return config;
}

function dropUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkConfig(c: WebhookConfig): void {
  const s = c.sidecar;
  requireString("sidecar.name", s.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "dns1123-label");
  requireString("sidecar.image", s.image, /\S/, "non-empty");
  if (!Array.isArray(s.command) || !s.command.every((x) => typeof x === "string")) {
    throw new ConfigError("sidecar.command", s.command, "list of strings");
  }
  requirePort("sidecar.port", s.port);
  requireString("sidecar.portName", s.portName, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "iana-svc-name");
  if (!Array.isArray(s.env) || !s.env.every((e) => typeof e?.name === "string" && typeof e.value === "string")) {
    throw new ConfigError("sidecar.env", s.env, "list of {name, value} strings");
  }
  for (const [field, probe] of [
    ["sidecar.liveness", s.liveness],
    ["sidecar.readiness", s.readiness],
  ] as const) {
    if (typeof probe !== "object" || probe === null) throw new ConfigError(field, probe, "must be a mapping");
    requireString(`${field}.path`, probe.path, /^\//, "absolute-path");
    requireCount(`${field}.initialDelaySeconds`, probe.initialDelaySeconds, 0);
    requireCount(`${field}.periodSeconds`, probe.periodSeconds, 1);
  }
  if (typeof s.resources !== "object" || s.resources === null) {
    throw new ConfigError("sidecar.resources", s.resources, "must be {requests, limits}");
  }
  requireString("sidecar.adaptersVolumeName", s.adaptersVolumeName, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "dns1123-label");
  requireString("sidecar.adaptersMountPath", s.adaptersMountPath, /^\//, "absolute-path");
  requireString(
    "gpuSchedulerName",
    c.gpuSchedulerName,
    /^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
    "dns1123-subdomain, or empty for no switch",
  );
  if (!Array.isArray(c.gpuResourceNames) || !c.gpuResourceNames.every((r) => typeof r === "string" && r.length > 0)) {
    throw new ConfigError("gpuResourceNames", c.gpuResourceNames, "non-empty list of resource names");
  }
  requirePort("defaultEnginePort", c.defaultEnginePort);
}

function requireString(field: string, value: unknown, pattern: RegExp, rule: string): void {
  if (typeof value !== "string" || !pattern.test(value)) throw new ConfigError(field, value, rule);
}

function requirePort(field: string, value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65535) {
    throw new ConfigError(field, value, "port 1..65535");
  }
}

function requireCount(field: string, value: unknown, min: number): void {
  if (!Number.isInteger(value) || (value as number) < min) throw new ConfigError(field, value, `integer >= ${min}`);
}
