// scalingStrategy HPA: the PodAutoscaler becomes an autoscaling/v2 HorizontalPodAutoscaler `<pa>-hpa` it owns, and
// the kube-controller-manager does the scaling. Metrics: cpu → Utilization, memory → AverageValue, every other
// source → a Pods metric with an AverageValue target; behavior from the tuning annotations over 60 s periods.
import type { MetricSource } from "../../api/kinds/pod-autoscaler.js";
import { controllerReference, type KubeObject } from "../../kube/objects.js";
import type { AutoscalerTuning } from "./annotations.js";
import type { PodAutoscaler } from "./decide.js";

export interface HorizontalPodAutoscaler extends KubeObject {
  spec?: Record<string, unknown>;
  status?: { currentReplicas?: number; desiredReplicas?: number; lastScaleTime?: string };
}

export const hpaName = (pa: KubeObject): string => `${pa.metadata?.name ?? ""}-hpa`;

function hpaMetric(source: MetricSource): Record<string, unknown> {
  if (source.metricSourceType === "resource" && source.targetMetric === "cpu") {
    const utilization = Math.max(1, Math.round(Number(source.targetValue)));
    return {
      type: "Resource",
      resource: { name: "cpu", target: { type: "Utilization", averageUtilization: utilization } },
    };
  }
  if (source.metricSourceType === "resource") {
    return {
      type: "Resource",
      resource: { name: source.targetMetric, target: { type: "AverageValue", averageValue: source.targetValue } },
    };
  }
  return {
    type: "Pods",
    pods: { metric: { name: source.targetMetric }, target: { type: "AverageValue", averageValue: source.targetValue } },
  };
}

/** A rate of 1 allows no change at all in that direction, which the HPA says as selectPolicy Disabled. */
function rule(percent: number, windowMs: number, select: "Max" | "Min") {
  const value = Math.round(percent);
  return {
    stabilizationWindowSeconds: Math.min(3600, Math.round(windowMs / 1000)),
    selectPolicy: value >= 1 ? select : "Disabled",
    policies: [{ type: "Percent", value: Math.max(1, value), periodSeconds: 60 }],
  };
}

export function desiredHpa(pa: PodAutoscaler, tuning: AutoscalerTuning): HorizontalPodAutoscaler {
  const ref = pa.spec.scaleTargetRef;
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: {
      name: hpaName(pa),
      namespace: pa.metadata?.namespace,
      ownerReferences: [controllerReference(pa)],
    },
    spec: {
      scaleTargetRef: { apiVersion: ref.apiVersion ?? "apps/v1", kind: ref.kind, name: ref.name },
      // The HPA cannot rest at 0 without a feature gate; 1 is its floor.
      minReplicas: Math.max(1, pa.spec.minReplicas ?? 1),
      maxReplicas: pa.spec.maxReplicas,
      metrics: pa.spec.metricsSources.map(hpaMetric),
      behavior: {
        scaleUp: rule((tuning.maxScaleUpRate - 1) * 100, tuning.scaleUpCooldownMs, "Max"),
        scaleDown: rule((1 - 1 / tuning.maxScaleDownRate) * 100, tuning.scaleDownCooldownMs, "Min"),
      },
    },
  };
}

/** True when every field `want` sets is in `have` with the same value (the API server adds defaults of its own). */
function contains(have: unknown, want: unknown): boolean {
  if (Array.isArray(want))
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => contains(have[i], w));
  if (want && typeof want === "object") {
    if (!have || typeof have !== "object") return false;
    return Object.entries(want).every(([k, w]) => contains((have as Record<string, unknown>)[k], w));
  }
  return have === want;
}

/** Replace only when a field we set changed or the owner is not this PodAutoscaler; server defaults are no change. */
export function hpaDiffers(cached: HorizontalPodAutoscaler, want: HorizontalPodAutoscaler): boolean {
  const owner = (o: HorizontalPodAutoscaler) => o.metadata?.ownerReferences?.find((r) => r.controller)?.uid;
  return owner(cached) !== owner(want) || !contains(cached.spec, want.spec);
}
