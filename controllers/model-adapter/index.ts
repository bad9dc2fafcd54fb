// The ModelAdapter controller wired to the shared informers: adapters are its primary kind; it owns a Service and
// an EndpointSlice per adapter; pod changes re-queue the adapters whose selector picks the pod.
import { Counter } from "prom-client";
import { selectorMatches } from "../../api/index.js";
import { Adapter, Model } from "../../api/labels.js";
import { LoraClient, type LoraClientOptions } from "../../engines/lora-client.js";
import type { KubeObject } from "../../kube/objects.js";
import { objectKey, objectPath } from "../../kube/objects.js";
import type { ControllerSetup, ManagerContext } from "../../kube/manager.js";
import { Resources, scoped } from "../../kube/resources.js";
import { NAMESPACE_INDEX } from "../../kube/store.js";
import { addFinalizer, ensureObject, patchStatus, removeFinalizer } from "../../kube/writes.js";
import { EngineView } from "./engine-view.js";
import { PodStatsReader } from "./pod-stats.js";
import { engineAddress, type Pod } from "./pods.js";
import {
  ModelAdapterReconciler,
  DEFAULT_SETTINGS,
  type AdapterSettings,
  type AdapterWriter,
  type ModelAdapterObject,
} from "./reconcile.js";
import { endpointSliceDiffers, serviceDiffers, type EndpointSlice, type Service } from "./resources.js";

export const CONTROLLER_NAME = "model-adapter";

export interface ModelAdapterControllerOptions {
  settings?: Partial<AdapterSettings>;
  /** Concurrent reconciles (default 8: loads wait on engines, not on CPU). */
  workers?: number;
  lora?: LoraClientOptions;
}

function kubeWriter(ctx: ManagerContext): AdapterWriter {
  const { client } = ctx;
  return {
    addFinalizer: async (a) =>
      (await addFinalizer(client, Resources.modelAdapters, a, Adapter.finalizer)) as ModelAdapterObject,
    removeFinalizer: async (a) => void (await removeFinalizer(client, Resources.modelAdapters, a, Adapter.finalizer)),
    patchStatus: async (a, status) => void (await patchStatus(client, Resources.modelAdapters, a, status)),
    ensureService: async (cached, want) =>
      void (await ensureObject<Service>(client, Resources.services, cached, want, serviceDiffers)),
    ensureEndpointSlice: async (cached, want) =>
      void (await ensureObject<EndpointSlice>(client, Resources.endpointSlices, cached, want, endpointSliceDiffers)),
    readSecret: async (namespace, name) => {
      const secret = await client.get<{ data?: Record<string, string> }>(
        objectPath(Resources.secrets, `${namespace}/${name}`),
      );
      return Object.fromEntries(
        Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
      );
    },
  };
}

export function modelAdapterController(options: ModelAdapterControllerOptions = {}): ControllerSetup {
  return {
    name: CONTROLLER_NAME,
    setup(ctx) {
      const settings = { ...DEFAULT_SETTINGS, ...options.settings };
      const adapters = ctx.informers.for<ModelAdapterObject>(Resources.modelAdapters);
      // Engine pods carry the model label (as the router's discovery assumes): caching only those bounds memory.
      const pods = ctx.informers.for<Pod>(scoped(Resources.pods, { labelSelector: Model.name }));
      const services = ctx.informers.for<Service>(scoped(Resources.services, { labelSelector: Adapter.name }));
      const slices = ctx.informers.for<EndpointSlice>(
        scoped(Resources.endpointSlices, { labelSelector: Adapter.name }),
      );
      const engineCalls = new Counter({
        name: "aibrix_model_adapter_engine_calls_total",
        help: "Calls the ModelAdapter controller made to engines (or runtime sidecars), by call",
        labelNames: ["call"],
        registers: [ctx.registry],
      });
      const lora = new LoraClient({
        ...options.lora,
        onCall: (what, address) => {
          engineCalls.labels(what).inc();
          options.lora?.onCall?.(what, address);
        },
      });
      const engines = new EngineView(lora, settings.resyncMs * 0.9);
      const reconciler = new ModelAdapterReconciler({
        adapters: adapters.store,
        pods: pods.store,
        services: services.store,
        endpointSlices: slices.store,
        engines,
        writer: kubeWriter(ctx),
        recorder: ctx.recorder(CONTROLLER_NAME),
        podStats: new PodStatsReader(settings.resyncMs).read,
        settings,
      });
      // A deleted pod's engine is forgotten, so the view does not grow with pod churn.
      pods.addHandler({ onDelete: (pod) => engines.forget(engineAddress(pod, false)) });
      const adaptersSelecting = (obj: KubeObject): string[] => {
        const ns = obj.metadata?.namespace ?? "";
        const labels = obj.metadata?.labels ?? {};
        return adapters.store
          .byIndex(NAMESPACE_INDEX, ns)
          .filter(
            (a) =>
              selectorMatches(a.spec.podSelector, labels) ||
              (a.status?.instances ?? []).includes(obj.metadata?.name ?? ""),
          )
          .map(objectKey);
      };
      return {
        name: CONTROLLER_NAME,
        for: adapters,
        owns: [services, slices],
        watches: [{ informer: pods, map: adaptersSelecting }],
        reconcile: reconciler.reconcile,
        workers: options.workers ?? 8,
      };
    },
  };
}
