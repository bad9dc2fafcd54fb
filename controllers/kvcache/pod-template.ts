// Pod templates from a KVCache RuntimeSpec: a full `template` wins (our labels are added so selectors still match),
// otherwise one container from image, pull policy, env and resources. Placement annotations become affinity.
import { KVCacheAnnotation, Model } from "../../api/labels.js";

export type Json = Record<string, unknown>;

export interface RuntimeSpec {
  replicas?: number;
  image?: string;
  imagePullPolicy?: string;
  env?: unknown[];
  resources?: unknown;
  template?: unknown;
}

export interface ContainerDefaults {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Json[];
  ports?: Json[];
  extra?: Json;
}

export interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: Json;
}

const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The downward-API env every cache server gets (upstream's names). */
export function podFieldEnv(): Json[] {
  const field = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  return [
    field("MY_HOST_NAME", "status.podIP"),
    field("MY_NODE_NAME", "spec.nodeName"),
    field("MY_POD_NAME", "metadata.name"),
    field("MY_POD_NAMESPACE", "metadata.namespace"),
    field("MY_POD_IP", "status.podIP"),
    field("MY_UID", "metadata.uid"),
  ];
}

export function podTemplate(
  runtime: RuntimeSpec | undefined,
  labels: Record<string, string>,
  container: ContainerDefaults,
  podSpec: Json = {},
): PodTemplate {
  if (isRecord(runtime?.template)) {
    const given = runtime.template;
    const meta = isRecord(given.metadata) ? given.metadata : {};
    const givenLabels = isRecord(meta.labels) ? (meta.labels as Record<string, string>) : {};
    return {
      metadata: { ...meta, labels: { ...givenLabels, ...labels } },
      spec: isRecord(given.spec) ? given.spec : {},
    };
  }
  const env = [...(container.env ?? []), ...((runtime?.env ?? []) as Json[])];
  return {
    metadata: { labels },
    spec: {
      ...podSpec,
      containers: [
        {
          name: container.name,
          image: runtime?.image || container.image,
          imagePullPolicy: runtime?.imagePullPolicy ?? "IfNotPresent",
          ...(container.command ? { command: container.command } : {}),
          ...(container.args ? { args: container.args } : {}),
          ...(env.length > 0 ? { env } : {}),
          ...(container.ports ? { ports: container.ports } : {}),
          ...(isRecord(runtime?.resources) ? { resources: runtime.resources } : {}),
          ...container.extra,
        },
      ],
    },
  };
}

/** Affinity the placement annotations ask for (upstream's rules), or undefined when none is set. */
export function cacheAffinity(name: string, annotations: Record<string, string>): Json | undefined {
  const affinity: Json = {};
  const gpuType = annotations[KVCacheAnnotation.nodeAffinityGpuType];
  if (gpuType) {
    const key = annotations[KVCacheAnnotation.nodeAffinityKey] || "machine.cluster.vke.volcengine.com/gpu-name";
    affinity.nodeAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key, operator: "In", values: [gpuType] }] }],
      },
    };
  }
  const workload = annotations[KVCacheAnnotation.podAffinityWorkload];
  if (workload) {
    affinity.podAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          labelSelector: { matchExpressions: [{ key: Model.name, operator: "In", values: [workload] }] },
          topologyKey: "kubernetes.io/hostname",
        },
      ],
    };
  }
  if (annotations[KVCacheAnnotation.podAntiAffinity] !== undefined) {
    affinity.podAntiAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          labelSelector: { matchLabels: { [KVCacheAnnotation.podName]: name, [KVCacheAnnotation.podRole]: "cache" } },
          topologyKey: "kubernetes.io/hostname",
        },
      ],
    };
  }
  return Object.keys(affinity).length > 0 ? affinity : undefined;
}
