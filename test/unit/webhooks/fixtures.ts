// AdmissionReview builders shared by the webhook tests.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastJsonPatch, { type Operation } from "fast-json-patch";
import pino from "pino";
import { parseAllDocuments } from "yaml";
import { admit, type AdmissionDeps, type WebhookRole } from "../../../webhooks/admission.js";
import type { ClusterLookup } from "../../../webhooks/cluster.js";
import { resolveWebhookConfig, type WebhookConfigInput } from "../../../webhooks/config.js";
import type { AdmissionResponse } from "../../../webhooks/review.js";

export type Json = Record<string, unknown>;

export const silent = pino({ level: "silent" });

export function deps(cluster?: ClusterLookup, config?: WebhookConfigInput): AdmissionDeps {
  return { config: resolveWebhookConfig(config), cluster, logger: silent };
}

export function gvkOf(obj: Json): { group: string; version: string; kind: string } {
  const apiVersion = String(obj.apiVersion);
  const slash = apiVersion.indexOf("/");
  return {
    group: slash < 0 ? "" : apiVersion.slice(0, slash),
    version: slash < 0 ? apiVersion : apiVersion.slice(slash + 1),
    kind: String(obj.kind),
  };
}

function nameOf(source: Json): string {
  const metadata = source.metadata;
  const name =
    metadata && typeof metadata === "object" && !Array.isArray(metadata) ? (metadata as Json).name : undefined;
  return typeof name === "string" ? name : "";
}

export function review(
  object: Json | null,
  opts: { operation?: string; oldObject?: Json; uid?: string; namespace?: string; kind?: Json } = {},
): Json {
  const source = object ?? opts.oldObject ?? { apiVersion: "v1", kind: "Pod" };
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: opts.uid ?? "6b1c0e2a-0000-4000-8000-000000000001",
      kind: opts.kind ?? gvkOf(source),
      resource: { group: gvkOf(source).group, version: gvkOf(source).version, resource: "x" },
      operation: opts.operation ?? "CREATE",
      namespace: opts.namespace ?? "default",
      // kube-apiserver always sends a string here, whatever the object's own metadata holds.
      name: nameOf(source),
      object,
      oldObject: opts.oldObject ?? null,
      userInfo: { username: "test" },
      dryRun: false,
    },
  };
}

export async function call(d: AdmissionDeps, role: WebhookRole, body: Json | string): Promise<AdmissionResponse> {
  const result = await admit(d, role, Buffer.from(typeof body === "string" ? body : JSON.stringify(body)));
  if (result.status !== 200) throw new Error(`expected 200, got ${result.status}: ${JSON.stringify(result.body)}`);
  return result.body.response;
}

export function patchOf(response: AdmissionResponse): Operation[] {
  if (!response.patch) return [];
  if (response.patchType !== "JSONPatch") throw new Error(`patchType ${response.patchType}`);
  return JSON.parse(Buffer.from(response.patch, "base64").toString("utf8")) as Operation[];
}

export function applied<T extends Json>(obj: T, ops: Operation[]): T {
  return fastJsonPatch.applyPatch(structuredClone(obj), ops, true, false).newDocument;
}

export function modelPod(
  overrides: { labels?: Record<string, string>; annotations?: Record<string, string>; spec?: Json } = {},
): Json {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "llama-0",
      namespace: "default",
      labels: { "model.aibrix.ai/name": "llama-3-8b", ...overrides.labels },
      annotations: { "model.aibrix.ai/sidecar-injection": "true", ...overrides.annotations },
    },
    spec: {
      schedulerName: "default-scheduler",
      containers: [
        {
          name: "vllm-openai",
          image: "vllm/vllm-openai:v0.8.5",
          ports: [{ containerPort: 8000 }],
          resources: { limits: { "nvidia.com/gpu": "1" }, requests: { "nvidia.com/gpu": "1" } },
        },
      ],
      ...overrides.spec,
    },
  };
}

const fixturesDir = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "fixtures",
  "manifests",
  "valid",
);

/** Every document of the shared valid-manifest fixtures. */
export function validManifests(): Json[] {
  const out: Json[] = [];
  for (const file of ["model-adapters.yaml", "pod-autoscalers.yaml", "ray-cluster-fleet.yaml", "kvcaches.yaml"]) {
    for (const doc of parseAllDocuments(readFileSync(path.join(fixturesDir, file), "utf8"))) {
      const value = doc.toJSON() as Json | null;
      if (value) out.push(value);
    }
  }
  return out;
}

export function firstOfKind(kind: string): Json {
  const found = validManifests().find((m) => m.kind === kind);
  if (!found) throw new Error(`no valid ${kind} fixture`);
  return found;
}
