// The mutating webhook: finds the pod specs inside an admitted object (Pod, Deployment template, RayClusterFleet
// head and worker templates), resolves the KVCache it references, and collects the operations for each spec.
import type { Operation } from "fast-json-patch";
import { KVCacheAnnotation, ORCHESTRATION_GROUP } from "../api/labels.js";
import type { ClusterLookup } from "./cluster.js";
import type { WebhookConfig } from "./config.js";
import { kvCacheEnv, type EnvVar } from "./kvcache-env.js";
import { mutatePodSpec, type PodSpecTarget } from "./pod-mutation.js";
import type { AdmissionRequest } from "./review.js";

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out;
}

interface Meta {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

function metaOf(obj: unknown): Meta {
  const m = isRecord(obj) && isRecord(obj.metadata) ? obj.metadata : {};
  return { labels: stringMap(m.labels), annotations: stringMap(m.annotations) };
}

/** Inner metadata wins over the owner's (a template may opt out of what its Deployment says). */
function merge(...metas: Meta[]): Meta {
  return {
    labels: Object.assign({}, ...metas.map((m) => m.labels)) as Record<string, string>,
    annotations: Object.assign({}, ...metas.map((m) => m.annotations)) as Record<string, string>,
  };
}

/** Where the pod specs are in each kind we mutate; empty for kinds we leave alone. */
export function podSpecTargets(req: AdmissionRequest): PodSpecTarget[] {
  const obj = req.object;
  if (!obj) return [];
  const { group, kind } = req.kind;
  if (group === "" && kind === "Pod") {
    const meta = metaOf(obj);
    // Mirror pods are owned by the kubelet; the API server rejects any change to them.
    if (meta.annotations["kubernetes.io/config.mirror"] !== undefined) return [];
    return [{ specPath: "/spec", spec: obj.spec, ...meta, sidecarAllowed: true }];
  }
  if (group === "apps" && kind === "Deployment") {
    const spec = isRecord(obj.spec) ? obj.spec : {};
    const template = spec.template;
    return [
      {
        specPath: "/spec/template/spec",
        spec: isRecord(template) ? template.spec : undefined,
        ...merge(metaOf(obj), metaOf(template)),
        sidecarAllowed: true,
      },
    ];
  }
  if (group === ORCHESTRATION_GROUP && (kind === "RayClusterFleet" || kind === "RayClusterReplicaSet")) {
    const spec = isRecord(obj.spec) ? obj.spec : {};
    const template = isRecord(spec.template) ? spec.template : {};
    const raySpec = isRecord(template.spec) ? template.spec : {};
    const outer = merge(metaOf(obj), metaOf(template));
    const targets: PodSpecTarget[] = [];
    const head = isRecord(raySpec.headGroupSpec) ? raySpec.headGroupSpec : undefined;
    if (head && isRecord(head.template)) {
      targets.push({
        specPath: "/spec/template/spec/headGroupSpec/template/spec",
        spec: head.template.spec,
        ...merge(outer, metaOf(head.template)),
        // Only the head pod serves the model, so only it gets the runtime sidecar.
        sidecarAllowed: true,
      });
    }
    const workers = Array.isArray(raySpec.workerGroupSpecs) ? raySpec.workerGroupSpecs : [];
    workers.forEach((w: unknown, i) => {
      if (!isRecord(w) || !isRecord(w.template)) return;
      targets.push({
        specPath: `/spec/template/spec/workerGroupSpecs/${i}/template/spec`,
        spec: w.template.spec,
        ...merge(outer, metaOf(w.template)),
        sidecarAllowed: false,
      });
    });
    return targets;
  }
  return [];
}

export function mutatesKind(group: string, kind: string): boolean {
  return (
    (group === "" && kind === "Pod") ||
    (group === "apps" && kind === "Deployment") ||
    (group === ORCHESTRATION_GROUP && (kind === "RayClusterFleet" || kind === "RayClusterReplicaSet"))
  );
}

export interface WorkloadMutation {
  ops: Operation[];
  warnings: string[];
}

/** Env for the KVCache a target references, with warnings when it cannot be found or reached. */
async function cacheEnvFor(
  t: PodSpecTarget,
  namespace: string,
  cluster: ClusterLookup | undefined,
  memo: Map<string, Promise<{ env: EnvVar[]; warnings: string[] }>>,
): Promise<{ env: EnvVar[]; warnings: string[] }> {
  const name = t.labels[KVCacheAnnotation.consumerOf] ?? t.annotations[KVCacheAnnotation.consumerOf];
  if (!name) return { env: [], warnings: [] };
  let pending = memo.get(name);
  if (!pending) {
    pending = (async () => {
      if (!cluster) return { env: [], warnings: [`KVCache ${name}: no cluster access configured; no cache env added`] };
      try {
        const kv = await cluster.getKVCache(namespace, name);
        if (!kv) return { env: [], warnings: [`KVCache ${namespace}/${name} not found; no cache env added`] };
        return kvCacheEnv(kv, namespace);
      } catch (err) {
        return { env: [], warnings: [`KVCache ${name} lookup failed (${(err as Error).message}); no env added`] };
      }
    })();
    memo.set(name, pending);
  }
  return pending;
}

/** Every operation for the admitted object. Pods are mutated on CREATE only (their spec is immutable after). */
export async function mutateWorkload(
  req: AdmissionRequest,
  config: WebhookConfig,
  cluster?: ClusterLookup,
): Promise<WorkloadMutation> {
  const out: WorkloadMutation = { ops: [], warnings: [] };
  if (req.operation !== "CREATE" && req.operation !== "UPDATE") return out;
  if (req.subResource !== "") return out;
  if (req.kind.kind === "Pod" && req.operation !== "CREATE") return out;
  const namespace =
    req.namespace || (isRecord(req.object?.metadata) ? String(req.object.metadata.namespace ?? "") : "");
  const memo = new Map<string, Promise<{ env: EnvVar[]; warnings: string[] }>>();
  const seen = new Set<string>();
  for (const target of podSpecTargets(req)) {
    const cache = await cacheEnvFor(target, namespace || "default", cluster, memo);
    const result = mutatePodSpec(target, config, cache.env);
    out.ops.push(...result.ops);
    for (const w of [...cache.warnings, ...result.warnings]) {
      if (!seen.has(w)) out.warnings.push(w);
      seen.add(w);
    }
  }
  return out;
}
