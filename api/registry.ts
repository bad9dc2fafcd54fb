import { apiVersionOf, type KindDefinition } from "./kind.js";
import { kvCacheKind } from "./kinds/kv-cache.js";
import { modelAdapterKind } from "./kinds/model-adapter.js";
import { podAutoscalerKind } from "./kinds/pod-autoscaler.js";
import { rayClusterFleetKind, rayClusterReplicaSetKind } from "./kinds/ray-cluster.js";

/** Every custom resource kind this package owns. */
export const KINDS: readonly KindDefinition[] = [
  modelAdapterKind,
  podAutoscalerKind,
  rayClusterFleetKind,
  rayClusterReplicaSetKind,
  kvCacheKind,
];

const byKey = new Map(KINDS.map((k) => [`${apiVersionOf(k)}/${k.kind}`, k]));

/** The definition for an apiVersion/kind pair, or undefined for kinds we do not own. */
export function kindInfo(apiVersion: unknown, kind: unknown): KindDefinition | undefined {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return undefined;
  return byKey.get(`${apiVersion}/${kind}`);
}

/** Looks a kind up by name alone (for messages such as "did you mean apiVersion ...?"). */
export function kindByName(kind: string): KindDefinition | undefined {
  return KINDS.find((k) => k.kind === kind);
}
