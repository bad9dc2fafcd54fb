// A recorded cluster for the PodAutoscaler reconciler: a /scale per target, pods, per-pod metric values the test
// sets tick by tick (undefined = the engine did not answer), and every write and Event kept for assertions.
import type { MetricSource } from "../../../../api/kinds/pod-autoscaler.js";
import type { EventType } from "../../../../kube/events.js";
import { objectKey } from "../../../../kube/objects.js";
import { ObjectStore } from "../../../../kube/store.js";
import type { PodAutoscaler } from "../../../../controllers/pod-autoscaler/decide.js";
import type { HorizontalPodAutoscaler } from "../../../../controllers/pod-autoscaler/hpa.js";
import type { Pod } from "../../../../controllers/pod-autoscaler/pods.js";
import {
  PodAutoscalerReconciler,
  type AutoscalerCluster,
  type AutoscalerSettings,
} from "../../../../controllers/pod-autoscaler/reconcile.js";
import type { AutoscalerStatus } from "../../../../controllers/pod-autoscaler/status.js";
import type { SourceContext, SourceReading } from "../../../../controllers/pod-autoscaler/sources/types.js";

export const T0 = Date.parse("2026-12-01T10:00:00Z");

export const QUEUE: MetricSource = {
  metricSourceType: "pod",
  protocolType: "http",
  port: "8000",
  path: "/metrics",
  targetMetric: "vllm:num_requests_waiting",
  targetValue: "10",
};

export function autoscaler(
  name: string,
  spec: Partial<PodAutoscaler["spec"]> = {},
  annotations: Record<string, string> = {},
  createdAt = T0 - 3_600_000,
): PodAutoscaler {
  return {
    apiVersion: "autoscaling.aibrix.ai/v1alpha1",
    kind: "PodAutoscaler",
    metadata: {
      name,
      namespace: "ns",
      uid: `uid-${name}`,
      generation: 1,
      annotations,
      creationTimestamp: new Date(createdAt).toISOString(),
    },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "llama" },
      minReplicas: 1,
      maxReplicas: 20,
      metricsSources: [QUEUE],
      scalingStrategy: "KPA",
      observeWindowSeconds: 60,
      panicWindowSeconds: 10,
      ...spec,
    },
  } as PodAutoscaler;
}

export interface PodOptions {
  ready?: boolean;
  readyAt?: number;
  terminating?: boolean;
}

let podCount = 0;

export function makePod(name: string, target: string, opts: PodOptions = {}): Pod {
  const ready = opts.ready ?? true;
  return {
    metadata: {
      name,
      namespace: "ns",
      labels: { app: target },
      ...(opts.terminating ? { deletionTimestamp: new Date(T0).toISOString() } : {}),
    },
    status: {
      phase: "Running",
      podIP: `10.0.${Math.floor(++podCount / 250)}.${(podCount % 250) + 1}`,
      conditions: [
        {
          type: "Ready",
          status: ready ? "True" : "False",
          lastTransitionTime: new Date(opts.readyAt ?? T0 - 3_600_000).toISOString(),
        },
      ],
    },
  };
}

/** One target: its replicas, pods and the per-pod metric values (by pod name). */
export interface Target {
  replicas: number;
  pods: Pod[];
  values: Map<string, number | undefined>;
  /** Replicas a scale write adds as pods at once (Ready immediately unless `newPodsReady` is false). */
  newPodsReady: boolean;
}

export class World {
  now = T0;
  readonly autoscalers = new ObjectStore<PodAutoscaler>();
  readonly hpas = new ObjectStore<HorizontalPodAutoscaler>();
  readonly targets = new Map<string, Target>();
  readonly events: string[] = [];
  readonly scaleWrites: { target: string; replicas: number }[] = [];
  readonly hpaWrites: HorizontalPodAutoscaler[] = [];
  /** Pods whose metrics the reader was asked for, per tick. */
  readonly scraped: string[][] = [];
  readonly reconciler: PodAutoscalerReconciler;
  /** When set, listing pods fails with it. */
  podsError: Error | undefined;

  constructor(settings: Partial<AutoscalerSettings> = {}) {
    const cluster: AutoscalerCluster = {
      getScale: async (pa) => {
        const t = this.target(pa.spec.scaleTargetRef.name ?? "");
        return { replicas: t.replicas, statusReplicas: t.pods.length, selector: `app=${pa.spec.scaleTargetRef.name}` };
      },
      setReplicas: async (pa, replicas) => {
        const name = pa.spec.scaleTargetRef.name ?? "";
        this.scaleWrites.push({ target: name, replicas });
        this.resize(name, replicas);
      },
      listPods: async (_ns, selector) => {
        if (this.podsError) throw this.podsError;
        return this.target(selector.replace(/^app=/, "")).pods;
      },
      patchStatus: async (pa, status: AutoscalerStatus) => {
        this.autoscalers.upsert({ ...pa, status });
      },
      ensureHpa: async (_cached, want) => {
        this.hpaWrites.push(want);
        this.hpas.upsert(want);
      },
    };
    this.reconciler = new PodAutoscalerReconciler({
      autoscalers: this.autoscalers,
      hpas: this.hpas,
      cluster,
      metrics: {
        read: async (source, ctx: SourceContext): Promise<SourceReading> => {
          this.scraped.push(ctx.pods.map((p) => p.metadata?.name ?? ""));
          const t = this.target(ctx.selector.replace(/^app=/, ""));
          return {
            kind: "pods",
            values: new Map(ctx.pods.map((p) => [p.metadata?.name ?? "", t.values.get(p.metadata?.name ?? "")])),
          };
        },
      },
      recorder: {
        record: (_o, type: EventType, reason: string, _a, note: string) =>
          void this.events.push(`${type} ${reason}: ${note}`),
      },
      clock: () => this.now,
      settings: { tickMs: 10_000, warmUpMs: 10_000, ...settings },
    });
  }

  target(name: string): Target {
    let t = this.targets.get(name);
    if (!t) this.targets.set(name, (t = { replicas: 0, pods: [], values: new Map(), newPodsReady: true }));
    return t;
  }

  addTarget(name: string, replicas: number): Target {
    const t = this.target(name);
    this.resize(name, replicas);
    return t;
  }

  resize(name: string, replicas: number): void {
    const t = this.target(name);
    t.replicas = replicas;
    let i = 0;
    while (t.pods.length < replicas) {
      const pod = makePod(`${name}-${t.pods.length}-${i++}`, name, {
        ready: t.newPodsReady,
        readyAt: this.now - 3_600_000,
      });
      t.pods.push(pod);
    }
    t.pods = t.pods.slice(0, replicas);
  }

  /** Every pod of `name` reports `value` (undefined: it stops answering). */
  load(name: string, value: number | undefined): void {
    const t = this.target(name);
    for (const p of t.pods) t.values.set(p.metadata?.name ?? "", value);
  }

  add(pa: PodAutoscaler): void {
    this.autoscalers.upsert(pa);
  }

  pa(name: string): PodAutoscaler {
    return this.autoscalers.get(`ns/${name}`)!;
  }

  /** Advances the clock by `ms` and reconciles `name` once (a tick). */
  async tick(name: string, ms = 10_000): Promise<void> {
    this.now += ms;
    await this.reconciler.reconcile(objectKey(this.pa(name)));
  }

  /** Ticks every `stepMs` until `ms` have passed, re-applying the per-pod load so new pods carry it too. */
  async run(name: string, ms: number, perPod: (replicas: number) => number | undefined, stepMs = 10_000) {
    const replicas: number[] = [];
    for (let t = 0; t < ms; t += stepMs) {
      const target = this.target(this.pa(name).spec.scaleTargetRef.name ?? "");
      this.load(this.pa(name).spec.scaleTargetRef.name ?? "", perPod(target.replicas));
      await this.tick(name, stepMs);
      replicas.push(target.replicas);
    }
    return replicas;
  }
}
