// Mutation of one pod spec, wherever it sits (a Pod, a Deployment template, a Ray group template): the runtime
// sidecar and adapters volume, the GPU scheduler profile, KV-cache env. It only ever adds (append to arrays, add
// missing keys) and checks for what is already there first, so running it on its own output yields no operations.
import type { Operation } from "fast-json-patch";
import { Model } from "../api/labels.js";
import type { WebhookConfig } from "./config.js";
import type { EnvVar } from "./kvcache-env.js";

export interface PodSpecTarget {
  /** JSON Pointer of the PodSpec inside the admitted object, e.g. `/spec` or `/spec/template/spec`. */
  specPath: string;
  /** The PodSpec as admitted; may be malformed (the API server rejects that later, we must just not crash). */
  spec: unknown;
  /** Labels and annotations that decide what applies (owner's merged with the template's). */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** False for templates that must not get the sidecar (Ray worker groups: only the head serves). */
  sidecarAllowed: boolean;
}

export interface PodSpecMutation {
  ops: Operation[];
  warnings: string[];
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Label first, then annotation (a model name containing "/" can only be an annotation). */
function metaValue(t: Pick<PodSpecTarget, "labels" | "annotations">, key: string): string | undefined {
  return t.labels[key] ?? t.annotations[key];
}

export function modelName(t: Pick<PodSpecTarget, "labels" | "annotations">): string | undefined {
  const name = metaValue(t, Model.name);
  return name === undefined || name === "" ? undefined : name;
}

/** AIBrix's rule: the injection annotation alone asks for the sidecar (no model label needed). */
export function wantsSidecar(t: PodSpecTarget): boolean {
  return t.sidecarAllowed && metaValue(t, Model.sidecarInjection) === "true";
}

/** A positive quantity ("1", 2, "500m"); "0", 0 and garbage are not a request. */
function positiveQuantity(q: unknown): boolean {
  if (typeof q === "number") return q > 0;
  if (typeof q !== "string") return false;
  const m = /^\s*([0-9]*\.?[0-9]+)/.exec(q);
  return m !== null && Number(m[1]) > 0;
}

export function requestsGpu(spec: unknown, resourceNames: readonly string[]): boolean {
  if (!isRecord(spec)) return false;
  for (const list of [spec.containers, spec.initContainers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (!isRecord(c) || !isRecord(c.resources)) continue;
      for (const part of [c.resources.requests, c.resources.limits]) {
        if (isRecord(part) && resourceNames.some((r) => positiveQuantity(part[r]))) return true;
      }
    }
  }
  return false;
}

/** The engine kind: the explicit label/annotation, else a guess from the container images. */
export function inferEngine(t: PodSpecTarget, containers: Json[], sidecarName: string): string {
  const explicit = metaValue(t, Model.engine);
  if (explicit) return explicit;
  for (const c of containers) {
    if (c.name === sidecarName || typeof c.image !== "string") continue;
    const image = c.image.toLowerCase();
    if (image.includes("vllm")) return "vllm";
    if (image.includes("sglang")) return "sglang";
    if (image.includes("tgi") || image.includes("text-generation-inference")) return "tgi";
    if (image.includes("triton")) return "triton";
    if (image.includes("llama") && image.includes("cpp")) return "llamacpp";
  }
  return "unknown";
}

function enginePort(t: PodSpecTarget, fallback: number, warnings: string[]): number {
  const raw = metaValue(t, Model.port);
  if (raw === undefined) return fallback;
  const port = Number(raw);
  if (Number.isInteger(port) && port >= 1 && port <= 65535) return port;
  warnings.push(`${Model.port}=${JSON.stringify(raw)} is not a port 1..65535; the sidecar uses ${fallback}`);
  return fallback;
}

function sidecarContainer(config: WebhookConfig, engine: string, port: number, image: string): Json {
  const s = config.sidecar;
  const probe = (p: WebhookConfig["sidecar"]["liveness"]) => ({
    httpGet: { path: p.path, port: s.port, scheme: "HTTP" },
    initialDelaySeconds: p.initialDelaySeconds,
    periodSeconds: p.periodSeconds,
  });
  return {
    name: s.name,
    image,
    command: [...s.command],
    ports: [{ name: s.portName, containerPort: s.port, protocol: "TCP" }],
    env: [
      { name: "INFERENCE_ENGINE", value: engine },
      { name: "INFERENCE_ENGINE_ENDPOINT", value: `http://localhost:${port}` },
      ...s.env.filter((e) => e.name !== "INFERENCE_ENGINE" && e.name !== "INFERENCE_ENGINE_ENDPOINT"),
    ],
    volumeMounts: [{ name: s.adaptersVolumeName, mountPath: s.adaptersMountPath }],
    livenessProbe: probe(s.liveness),
    readinessProbe: probe(s.readiness),
    resources: { requests: { ...s.resources.requests }, limits: { ...s.resources.limits } },
  };
}

/** `add` of one item to an array that may be absent (create it) or present (append). Malformed: skipped. */
function appendOp(ops: Operation[], arrayPath: string, current: unknown, item: unknown): void {
  if (current === undefined || current === null) ops.push({ op: "add", path: arrayPath, value: [item] });
  else if (Array.isArray(current)) ops.push({ op: "add", path: `${arrayPath}/-`, value: item });
}

/** Adds the sidecar (first, as AIBrix does) and the adapters volume; true when a container was inserted at 0. */
function injectSidecar(
  t: PodSpecTarget,
  spec: Json,
  containers: Json[],
  config: WebhookConfig,
  out: PodSpecMutation,
): boolean {
  const s = config.sidecar;
  const volumes = spec.volumes;
  if (!(Array.isArray(volumes) && volumes.some((v) => isRecord(v) && v.name === s.adaptersVolumeName))) {
    appendOp(out.ops, `${t.specPath}/volumes`, volumes, { name: s.adaptersVolumeName, emptyDir: {} });
  }
  (spec.containers as unknown[]).forEach((c, i) => {
    if (!isRecord(c)) return;
    const mounts = c.volumeMounts;
    const mounted =
      Array.isArray(mounts) &&
      mounts.some((m) => isRecord(m) && (m.name === s.adaptersVolumeName || m.mountPath === s.adaptersMountPath));
    if (!mounted) {
      appendOp(out.ops, `${t.specPath}/containers/${i}/volumeMounts`, mounts, {
        name: s.adaptersVolumeName,
        mountPath: s.adaptersMountPath,
      });
    }
  });
  if (containers.some((c) => c.name === s.name)) return false;
  const port = enginePort(t, config.defaultEnginePort, out.warnings);
  if (port === s.port) out.warnings.push(`engine port ${port} equals the runtime sidecar port; set ${Model.port}`);
  const image = metaValue(t, Model.sidecarRuntimeImage) || s.image;
  const engine = inferEngine(t, containers, s.name);
  out.ops.push({ op: "add", path: `${t.specPath}/containers/0`, value: sidecarContainer(config, engine, port, image) });
  return true;
}

/**
 * Points GPU model pods at the GPU scheduler profile, only when one is configured (deployed) and the pod names no
 * scheduler of its own.
 */
function setScheduler(t: PodSpecTarget, spec: Json, config: WebhookConfig, out: PodSpecMutation): void {
  if (!config.gpuSchedulerName) return;
  if (modelName(t) === undefined || !requestsGpu(spec, config.gpuResourceNames)) return;
  const current = spec.schedulerName;
  // The API server defaults schedulerName before admission, so "default-scheduler" means "named none"; any other
  // name is the user's choice and stays.
  if (current === undefined || current === null) {
    out.ops.push({ op: "add", path: `${t.specPath}/schedulerName`, value: config.gpuSchedulerName });
  } else if (current === "" || current === "default-scheduler") {
    out.ops.push({ op: "replace", path: `${t.specPath}/schedulerName`, value: config.gpuSchedulerName });
  }
}

/** `shift`: containers inserted before the admitted ones by earlier operations (their indexes moved up). */
function addEnv(
  t: PodSpecTarget,
  spec: Json,
  env: EnvVar[],
  config: WebhookConfig,
  out: PodSpecMutation,
  shift: number,
): void {
  (spec.containers as unknown[]).forEach((c, at) => {
    const i = at + shift;
    if (!isRecord(c) || c.name === config.sidecar.name) return;
    const current = c.env;
    if (current !== undefined && current !== null && !Array.isArray(current)) return;
    const have = new Set((current ?? []).map((e: unknown) => (isRecord(e) ? e.name : undefined)));
    const missing = env.filter((e) => !have.has(e.name));
    if (missing.length === 0) return;
    const path = `${t.specPath}/containers/${i}/env`;
    if (current === undefined || current === null) out.ops.push({ op: "add", path, value: missing });
    else for (const e of missing) out.ops.push({ op: "add", path: `${path}/-`, value: e });
  });
}

/** All operations for one pod spec; `kvEnv` is the resolved cache env when the pod references a KVCache. */
export function mutatePodSpec(t: PodSpecTarget, config: WebhookConfig, kvEnv: EnvVar[] = []): PodSpecMutation {
  const out: PodSpecMutation = { ops: [], warnings: [] };
  const spec = t.spec;
  if (!isRecord(spec) || !Array.isArray(spec.containers)) return out;
  const containers = spec.containers.filter(isRecord);
  const inserted = wantsSidecar(t) && injectSidecar(t, spec, containers, config, out);
  setScheduler(t, spec, config, out);
  if (kvEnv.length > 0) addEnv(t, spec, kvEnv, config, out, inserted ? 1 : 0);
  return out;
}
