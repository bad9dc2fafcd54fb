// The PodAutoscaler controller wired to the shared informers: PodAutoscalers are its primary kind and it owns the
// HorizontalPodAutoscalers of the HPA strategy. Targets, pods and metrics are read at each tick (a target's pods
// are whatever its /scale selector picks, so no pod cache can be chosen up front).
import type { ControllerSetup, ManagerContext } from "../../kube/manager.js";
import type { ResourceRef } from "../../kube/objects.js";
import { AUTOSCALING_GROUP } from "../../api/labels.js";
import { ensureObject, patchStatus } from "../../kube/writes.js";
import type { PodAutoscaler } from "./decide.js";
import { hpaDiffers, type HorizontalPodAutoscaler } from "./hpa.js";
import type { Pod } from "./pods.js";
import {
  PodAutoscalerReconciler,
  DEFAULT_AUTOSCALER_SETTINGS,
  type AutoscalerCluster,
  type AutoscalerSettings,
} from "./reconcile.js";
import { ScaleTargets } from "./scale-target.js";
import { MetricSources } from "./sources/index.js";

export const CONTROLLER_NAME = "pod-autoscaler";

export const PodAutoscalerResources = {
  podAutoscalers: {
    group: AUTOSCALING_GROUP,
    version: "v1alpha1",
    plural: "podautoscalers",
    kind: "PodAutoscaler",
    namespaced: true,
  },
  horizontalPodAutoscalers: {
    group: "autoscaling",
    version: "v2",
    plural: "horizontalpodautoscalers",
    kind: "HorizontalPodAutoscaler",
    namespaced: true,
  },
} satisfies Record<string, ResourceRef>;

export interface PodAutoscalerControllerOptions {
  settings?: Partial<AutoscalerSettings>;
  /** Concurrent reconciles (default 8: ticks wait on engines and the API, not on CPU). */
  workers?: number;
}

function kubeCluster(ctx: ManagerContext): AutoscalerCluster {
  const { client } = ctx;
  const targets = new ScaleTargets({ get: (p) => client.get(p), patch: (p, body) => client.patch(p, body) });
  return {
    getScale: (pa) => targets.get(pa),
    setReplicas: (pa, replicas) => targets.setReplicas(pa, replicas),
    listPods: async (namespace, selector) =>
      (
        await client.get<{ items: Pod[] }>(
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=${encodeURIComponent(selector)}`,
        )
      ).items,
    patchStatus: async (pa, status) =>
      void (await patchStatus(client, PodAutoscalerResources.podAutoscalers, pa, status)),
    ensureHpa: async (cached, want) =>
      void (await ensureObject<HorizontalPodAutoscaler>(
        client,
        PodAutoscalerResources.horizontalPodAutoscalers,
        cached,
        want,
        hpaDiffers,
      )),
  };
}

export function podAutoscalerController(options: PodAutoscalerControllerOptions = {}): ControllerSetup {
  return {
    name: CONTROLLER_NAME,
    setup(ctx) {
      const autoscalers = ctx.informers.for<PodAutoscaler>(PodAutoscalerResources.podAutoscalers);
      const hpas = ctx.informers.for<HorizontalPodAutoscaler>(PodAutoscalerResources.horizontalPodAutoscalers);
      const reconciler = new PodAutoscalerReconciler({
        autoscalers: autoscalers.store,
        hpas: hpas.store,
        cluster: kubeCluster(ctx),
        metrics: new MetricSources({ get: (p) => ctx.client.get(p) }),
        recorder: ctx.recorder(CONTROLLER_NAME),
        settings: { ...DEFAULT_AUTOSCALER_SETTINGS, ...options.settings },
      });
      return {
        name: CONTROLLER_NAME,
        for: autoscalers,
        owns: [hpas],
        reconcile: reconciler.reconcile,
        workers: options.workers ?? 8,
      };
    },
  };
}
