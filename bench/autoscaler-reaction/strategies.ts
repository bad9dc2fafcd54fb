// The strategies compared, each a function from one sync to the replicas it asks for. KPA and APA are the
// controller's own decision (decideTick, product defaults); the baseline is the Kubernetes HPA algorithm on the same
// metric and target: ceil(current × mean/target) outside a 10 % band, every 15 s, a 300 s scale-down stabilisation
// (the highest recommendation in the window), scale-up at most max(2×, +4 pods) per period, unready pods ignored.
import { parseTuning } from "../../controllers/pod-autoscaler/annotations.js";
import {
  decideTick,
  freshMemory,
  type AutoscalerMemory,
  type PodAutoscaler,
} from "../../controllers/pod-autoscaler/decide.js";
import type { PodStanding } from "../../controllers/pod-autoscaler/pods.js";
import { stabilise, type Recommendation } from "../../controllers/pod-autoscaler/window.js";

export interface Observation {
  nowMs: number;
  replicas: number;
  ready: number;
  /** In-flight requests (running + waiting) per Ready replica. */
  perPod: number;
}

export interface Strategy {
  name: string;
  syncS: number;
  decide(o: Observation): number;
}

export const TARGET_PER_POD = 1.6;
export const BOUNDS = { min: 1, max: 16 };

function autoscaler(strategy: "KPA" | "APA"): PodAutoscaler {
  return {
    apiVersion: "autoscaling.aibrix.ai/v1alpha1",
    kind: "PodAutoscaler",
    metadata: { name: strategy.toLowerCase(), namespace: "bench", uid: strategy, generation: 1 },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "llama" },
      minReplicas: BOUNDS.min,
      maxReplicas: BOUNDS.max,
      scalingStrategy: strategy,
      metricsSources: [
        {
          metricSourceType: "pod",
          protocolType: "http",
          port: "8000",
          path: "/metrics",
          targetMetric: "in_flight",
          targetValue: String(TARGET_PER_POD),
        },
      ],
    },
  } as PodAutoscaler;
}

export function controllerStrategy(kind: "KPA" | "APA"): Strategy {
  const pa = autoscaler(kind);
  const { tuning } = parseTuning(undefined);
  let memory: AutoscalerMemory = freshMemory(pa);
  return {
    name: kind.toLowerCase(),
    syncS: 10,
    decide(o) {
      const pods: PodStanding[] = Array.from({ length: o.replicas }, (_, i) => ({
        pod: {},
        name: `p${i}`,
        ready: i < o.ready,
        terminating: false,
        warmingUp: false,
      }));
      const values = new Map(pods.filter((p) => p.ready).map((p) => [p.name, o.perPod]));
      const d = decideTick({
        pa,
        tuning,
        nowMs: o.nowMs,
        replicas: o.replicas,
        pods,
        readings: [{ kind: "pods", values }],
        memory,
      });
      memory = d.memory;
      return d.desired;
    },
  };
}

export function hpaBaseline(): Strategy {
  let history: readonly Recommendation[] = [];
  return {
    name: "hpa",
    syncS: 15,
    decide(o) {
      const ratio = o.ready > 0 ? o.perPod / TARGET_PER_POD : 1;
      let recommended = Math.abs(ratio - 1) <= 0.1 ? o.replicas : Math.ceil(o.replicas * ratio);
      recommended = Math.min(recommended, Math.max(2 * o.replicas, o.replicas + 4));
      const s = stabilise(history, o.nowMs, recommended, o.replicas, { upMs: 0, downMs: 300_000 });
      history = s.history;
      return Math.max(BOUNDS.min, Math.min(BOUNDS.max, s.replicas));
    },
  };
}
