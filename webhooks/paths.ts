// The HTTP paths this server answers and which resources each is meant for. The chart's webhook configurations
// and the generated manifests (webhook-configurations.ts) point at these; the names follow AIBrix's
// /mutate-<group>-<version>-<kind> pattern so its manifests keep working. Every path of a role runs the same
// dispatcher (by request.kind), so a rule routed to a sibling path still gets the right treatment.
import { AUTOSCALING_GROUP, MODEL_GROUP, ORCHESTRATION_GROUP } from "../api/labels.js";
import type { WebhookRole } from "./admission.js";

export interface WebhookPath {
  path: string;
  role: WebhookRole;
  /** admissionregistration rule parts for the generated configuration. */
  apiGroup: string;
  apiVersion: string;
  resource: string;
}

const slug = (group: string) => group.replace(/\./g, "-");

function entry(role: WebhookRole, group: string, version: string, resource: string, kind: string): WebhookPath {
  const prefix = group === "" ? `${version}` : `${slug(group)}-${version}`;
  return { path: `/${role}-${prefix}-${kind.toLowerCase()}`, role, apiGroup: group, apiVersion: version, resource };
}

export const WEBHOOK_PATHS: readonly WebhookPath[] = [
  entry("mutate", "", "v1", "pods", "Pod"),
  entry("mutate", "apps", "v1", "deployments", "Deployment"),
  entry("mutate", ORCHESTRATION_GROUP, "v1alpha1", "rayclusterfleets", "RayClusterFleet"),
  entry("mutate", ORCHESTRATION_GROUP, "v1alpha1", "rayclusterreplicasets", "RayClusterReplicaSet"),
  entry("mutate", MODEL_GROUP, "v1alpha1", "modeladapters", "ModelAdapter"),
  entry("mutate", AUTOSCALING_GROUP, "v1alpha1", "podautoscalers", "PodAutoscaler"),
  entry("mutate", ORCHESTRATION_GROUP, "v1alpha1", "kvcaches", "KVCache"),
  entry("validate", MODEL_GROUP, "v1alpha1", "modeladapters", "ModelAdapter"),
  entry("validate", AUTOSCALING_GROUP, "v1alpha1", "podautoscalers", "PodAutoscaler"),
  entry("validate", ORCHESTRATION_GROUP, "v1alpha1", "rayclusterfleets", "RayClusterFleet"),
  entry("validate", ORCHESTRATION_GROUP, "v1alpha1", "rayclusterreplicasets", "RayClusterReplicaSet"),
  entry("validate", ORCHESTRATION_GROUP, "v1alpha1", "kvcaches", "KVCache"),
];

/** Catch-all paths: dispatch on request.kind alone. */
export const GENERIC_PATHS: Readonly<Record<string, WebhookRole>> = { "/mutate": "mutate", "/validate": "validate" };

const byPath = new Map<string, WebhookRole>([
  ...WEBHOOK_PATHS.map((p) => [p.path, p.role] as const),
  ...Object.entries(GENERIC_PATHS),
]);

export function roleOfPath(path: string): WebhookRole | undefined {
  return byPath.get(path);
}
