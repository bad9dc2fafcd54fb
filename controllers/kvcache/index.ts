// The KVCache controller wired to the shared informers: KVCaches are its primary kind; it owns the pods, Services,
// Deployments, StatefulSets and watcher RBAC it creates (all cached by the KVCache name label only).
import { KVCacheAnnotation } from "../../api/labels.js";
import { packageVersion } from "../../api/version.js";
import type { SharedInformer } from "../../kube/informer.js";
import type { ControllerSetup, ManagerContext } from "../../kube/manager.js";
import { objectPath } from "../../kube/objects.js";
import { isNotFound } from "../../kube/request.js";
import { Resources, scoped } from "../../kube/resources.js";
import { ensureObject, patchStatus } from "../../kube/writes.js";
import { OWNED_KINDS, ownedDiffers, type KVCacheObject, type OwnedKind, type OwnedObject } from "./objects.js";
import { KVCacheReconciler, type KVCacheWriter } from "./reconcile.js";

export const CONTROLLER_NAME = "kvcache";

export interface KVCacheControllerOptions {
  /** Image whose entrypoint is `aibrix-ts` (runs `kvcache-watcher`); default this package's release image. */
  watcherImage?: string;
  workers?: number;
}

export const defaultWatcherImage = (): string => `aibrix-ts/aibrix-ts:${packageVersion()}`;

function kubeWriter(ctx: ManagerContext): KVCacheWriter {
  const { client } = ctx;
  return {
    ensure: async (kind, cached, want) =>
      await ensureObject<OwnedObject>(client, Resources[kind], cached, want.object, (live, desired) =>
        want.createOnly ? false : ownedDiffers(live, desired),
      ),
    patchStatus: async (kv, status) => void (await patchStatus(client, Resources.kvCaches, kv, status)),
    secretExists: async (namespace, name) => {
      try {
        await client.get(objectPath(Resources.secrets, `${namespace}/${name}`));
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
  };
}

export function kvCacheController(options: KVCacheControllerOptions = {}): ControllerSetup {
  return {
    name: CONTROLLER_NAME,
    setup(ctx) {
      const kvCaches = ctx.informers.for<KVCacheObject>(Resources.kvCaches);
      const informers = Object.fromEntries(
        OWNED_KINDS.map((kind) => [
          kind,
          ctx.informers.for<OwnedObject>(scoped(Resources[kind], { labelSelector: KVCacheAnnotation.podName })),
        ]),
      ) as Record<OwnedKind, SharedInformer<OwnedObject>>;
      const reconciler = new KVCacheReconciler({
        kvCaches: kvCaches.store,
        owned: Object.fromEntries(OWNED_KINDS.map((k) => [k, informers[k].store])) as Record<
          OwnedKind,
          SharedInformer<OwnedObject>["store"]
        >,
        writer: kubeWriter(ctx),
        recorder: ctx.recorder(CONTROLLER_NAME),
        options: { watcherImage: options.watcherImage ?? defaultWatcherImage() },
      });
      return {
        name: CONTROLLER_NAME,
        for: kvCaches,
        owns: OWNED_KINDS.map((k) => informers[k]),
        reconcile: reconciler.reconcile,
        workers: options.workers ?? 4,
      };
    },
  };
}
