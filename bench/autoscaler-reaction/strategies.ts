// The strategies the arms compare: the product's KPA and APA as the PodAutoscaler each arm creates, and the HPA-style
// baseline: the Kubernetes HPA's replica calculation for a Pods metric, on the same engine metric and
// target as KPA and APA. It runs in the benchmark because the loopback control plane has no custom.metrics.k8s.io
// adapter through which the kube-controller-manager's HPA could read an engine metric. As the HPA does: no change
// inside a 10 % band; pods without a sample (still starting) count as 0 when scaling up and as on target when
// scaling down, and no change when that flips the direction; recommendations stabilised over 300 s down and 0 s up
// (the highest in the down window); then at most max(2×, +4 pods) up per sync (the default behavior). The clock it is
// given is trace time, so its windows stay the product defaults whatever the replay speed.
import { stabilise, type Recommendation } from "../../controllers/pod-autoscaler/window.js";
import { BOUNDS, METRICS, PRODUCT_DEFAULTS } from "./trace.js";

/**
 * The KPA or APA PodAutoscaler each arm runs: product defaults, with every window and the cooldown divided by
 * `speedup` (the live run replays the trace that much faster; the queueing replay runs in trace time, speedup 1).
 */
export function podAutoscaler(strategy: "KPA" | "APA", deployment: string, speedup: number) {
  const scaled = (s: number) => Math.round(s / speedup);
  return {
    apiVersion: "autoscaling.aibrix.ai/v1alpha1",
    kind: "PodAutoscaler",
    metadata: {
      name: deployment,
      annotations: {
        "autoscaling.aibrix.ai/scale-down-cooldown-window": `${scaled(PRODUCT_DEFAULTS.scaleDownCooldownS)}s`,
      },
    },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment },
      minReplicas: BOUNDS.min,
      maxReplicas: BOUNDS.max,
      scalingStrategy: strategy,
      observeWindowSeconds: scaled(PRODUCT_DEFAULTS.observeWindowS),
      panicWindowSeconds: scaled(PRODUCT_DEFAULTS.panicWindowS),
      metricsSources: METRICS.map((m) => ({
        metricSourceType: "pod",
        protocolType: "http",
        port: "8000",
        path: "/metrics",
        targetMetric: m.name,
        targetValue: String(m.targetPerPod),
      })),
    },
  };
}

export interface Observation {
  /** The target's current replicas. */
  replicas: number;
  /** The target's pods that are not terminating. */
  pods: number;
  /** One metric of each pod that answered (Ready pods with an engine listening). */
  values: readonly number[];
}

/** One sync: the clock (trace milliseconds) and, per metric, what the pods answered and the per-pod target. */
export interface Sync {
  nowMs: number;
  replicas: number;
  pods: number;
  metrics: readonly { values: readonly number[]; target: number }[];
}

export interface HpaBaselineOptions {
  bounds: { min: number; max: number };
  tolerance?: number;
  downWindowMs?: number;
}

/** The HPA's replica calculation for one sync, before stabilisation and rate limits. */
export function hpaRecommendation(o: Observation, target: number, tolerance = 0.1): number {
  const n = o.values.length;
  if (n === 0) return o.replicas;
  const sum = o.values.reduce((s, v) => s + v, 0);
  const ratio = sum / n / target;
  const missing = Math.max(0, o.pods - n);
  if (missing === 0) return Math.abs(ratio - 1) <= tolerance ? o.replicas : Math.ceil(ratio * n);
  const fill = ratio < 1 ? target : 0;
  const all = n + missing;
  const newRatio = (sum + missing * fill) / (target * all);
  if (Math.abs(newRatio - 1) <= tolerance || ratio < 1 !== newRatio < 1) return o.replicas;
  const replicas = Math.ceil(newRatio * all);
  if ((newRatio < 1 && replicas > o.replicas) || (newRatio > 1 && replicas < o.replicas)) return o.replicas;
  return replicas;
}

/** A stateful HPA-style decision: one call per sync, the replicas to set (several metrics: the largest ask). */
export function hpaBaseline(options: HpaBaselineOptions): (o: Sync) => number {
  let history: readonly Recommendation[] = [];
  const downMs = options.downWindowMs ?? 300_000;
  return (o) => {
    const asks = o.metrics.map((m) =>
      hpaRecommendation({ replicas: o.replicas, pods: o.pods, values: m.values }, m.target, options.tolerance),
    );
    const recommended = Math.max(...asks);
    const s = stabilise(history, o.nowMs, recommended, o.replicas, { upMs: 0, downMs });
    history = s.history;
    const limited = Math.min(s.replicas, Math.max(2 * o.replicas, o.replicas + 4));
    return Math.max(options.bounds.min, Math.min(options.bounds.max, limited));
  };
}
