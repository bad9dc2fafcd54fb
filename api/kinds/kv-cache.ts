import { Type, type Static } from "@sinclair/typebox";
import { KVCacheAnnotation, KVCacheBackends, ORCHESTRATION_GROUP, type KVCacheBackend } from "../labels.js";
import type { KindDefinition } from "../kind.js";
import { joinPath } from "../problem.js";
import { Condition, Embedded, Int32, IntOrString, Obj, Resource, StringEnum } from "../schema.js";
import { isRecord } from "../semantics.js";

export const DEFAULT_KVCACHE_IMAGE = "aibrix/kvcache:20241120";

export const RuntimeSpec = Obj({
  replicas: Type.Optional(Int32({ minimum: 0, default: 1 })),
  image: Type.Optional(Type.String()),
  imagePullPolicy: Type.Optional(StringEnum(["Always", "IfNotPresent", "Never"] as const, { default: "IfNotPresent" })),
  env: Type.Optional(Type.Array(Embedded("A core/v1 EnvVar."), { default: [] })),
  resources: Type.Optional(Embedded("core/v1 ResourceRequirements.")),
  template: Type.Optional(Embedded("A full core/v1 PodTemplateSpec; overrides the other fields when set.")),
});

export const MetadataBackend = Obj({
  externalConnection: Type.Optional(
    Obj({
      address: Type.String({ minLength: 1, description: "host:port of an existing server" }),
      passwordSecretRef: Type.Optional(Type.String()),
    }),
  ),
  runtime: Type.Optional(RuntimeSpec),
});

export const ServicePort = Obj({
  name: Type.Optional(Type.String()),
  protocol: Type.Optional(StringEnum(["TCP", "UDP", "SCTP"] as const, { default: "TCP" })),
  appProtocol: Type.Optional(Type.String()),
  port: Int32({ minimum: 1, maximum: 65535 }),
  targetPort: Type.Optional(IntOrString()),
  nodePort: Type.Optional(Int32({ minimum: 0, maximum: 65535 })),
});

export const KVCacheSpec = Obj({
  mode: Type.Optional(StringEnum(["distributed", "centralized"] as const, { default: "distributed" })),
  metadata: Type.Optional(Obj({ redis: Type.Optional(MetadataBackend), etcd: Type.Optional(MetadataBackend) })),
  cache: Type.Optional(
    Obj(RuntimeSpec.properties, { default: { image: DEFAULT_KVCACHE_IMAGE, imagePullPolicy: "IfNotPresent" } }),
  ),
  watcher: Type.Optional(RuntimeSpec),
  service: Type.Optional(
    Obj({
      type: Type.Optional(StringEnum(["ClusterIP", "NodePort", "LoadBalancer"] as const, { default: "ClusterIP" })),
      ports: Type.Array(ServicePort, { minItems: 1 }),
    }),
  ),
});

export const KVCacheStatus = Obj({
  current: Type.Optional(Int32({ description: "Ready cache replicas." })),
  conditions: Type.Optional(Type.Array(Condition)),
});

export const KVCacheSchema = Resource(`${ORCHESTRATION_GROUP}/v1alpha1`, "KVCache", KVCacheSpec, KVCacheStatus, {
  description: "A distributed KV-cache cluster shared by engine pods.",
});

export type KVCache = Static<typeof KVCacheSchema>;

/** The backend an object asks for: the backend annotation, else the legacy mode annotation mapping, else vineyard. */
export function kvCacheBackend(obj: { metadata?: { annotations?: Record<string, string> } }): string {
  const annotations = obj.metadata?.annotations ?? {};
  const explicit = annotations[KVCacheAnnotation.backend];
  if (explicit !== undefined) return explicit;
  const legacy = annotations[KVCacheAnnotation.legacyMode];
  if (legacy === "distributed") return "infinistore";
  return "vineyard";
}

export function isSupportedBackend(name: string): name is KVCacheBackend {
  return (KVCacheBackends as readonly string[]).includes(name);
}

const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

export const kvCacheKind: KindDefinition = {
  group: ORCHESTRATION_GROUP,
  version: "v1alpha1",
  kind: "KVCache",
  plural: "kvcaches",
  singular: "kvcache",
  shortNames: ["kvc"],
  schema: KVCacheSchema,
  printerColumns: [
    { name: "Mode", type: "string", jsonPath: ".spec.mode" },
    {
      name: "Backend",
      type: "string",
      jsonPath: `.metadata.annotations.${KVCacheAnnotation.backend.replace(/\./g, "\\.")}`,
    },
    { name: "Current", type: "integer", jsonPath: ".status.current" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
  rules(obj, problems) {
    const md = obj.metadata;
    const annotations = isRecord(md) && isRecord(md.annotations) ? md.annotations : {};
    const backend = annotations[KVCacheAnnotation.backend];
    if (backend !== undefined && (typeof backend !== "string" || !isSupportedBackend(backend))) {
      problems.add(
        joinPath("metadata.annotations", KVCacheAnnotation.backend),
        backend,
        "supported-backend",
        `must be one of ${KVCacheBackends.join(", ")}`,
      );
    }
    const spec = obj.spec;
    if (!isRecord(spec) || !isRecord(spec.metadata)) return;
    for (const store of ["redis", "etcd"] as const) {
      const conn = isRecord(spec.metadata[store]) ? spec.metadata[store].externalConnection : undefined;
      if (isRecord(conn) && typeof conn.address === "string" && conn.address !== "" && !HOST_PORT.test(conn.address)) {
        problems.add(
          `spec.metadata.${store}.externalConnection.address`,
          conn.address,
          "host-port",
          "must be host:port, e.g. redis.cache.svc:6379",
        );
      }
    }
  },
  immutable(oldObj, newObj, problems) {
    const before = kvCacheBackend(oldObj as Parameters<typeof kvCacheBackend>[0]);
    const after = kvCacheBackend(newObj as Parameters<typeof kvCacheBackend>[0]);
    if (before !== after) {
      problems.add(
        joinPath("metadata.annotations", KVCacheAnnotation.backend),
        after,
        "immutable",
        `the backend cannot change after creation (was ${before}); create a new KVCache instead`,
      );
    }
  },
};
