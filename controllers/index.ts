// Every controller `aibrix-ts controllers` can run, and the one function that starts a leader-elected manager
// with the enabled ones.
import { pino } from "pino";
import { loadKubeConfig } from "../kube/client.js";
import { selectControllers, startManager, type ControllerSetup, type RunningManager } from "../kube/manager.js";
import { KubeClient } from "../kube/request.js";
import { FLEET_CONTROLLER, fleetController, replicaSetController, REPLICA_SET_CONTROLLER } from "./fleet/index.js";
import { kvCacheController, type KVCacheControllerOptions } from "./kvcache/index.js";
import { modelAdapterController, type ModelAdapterControllerOptions } from "./model-adapter/index.js";
import { podAutoscalerController, type PodAutoscalerControllerOptions } from "./pod-autoscaler/index.js";

export interface ControllersOptions {
  kubeconfig?: string;
  /** `--controllers` value: `*`, a comma list, `-name` to leave one out (default `*`). */
  controllers?: string;
  leaderElection?:
    | false
    | { namespace: string; name?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  identity?: string;
  host?: string;
  port?: number;
  logLevel?: string;
  modelAdapter?: ModelAdapterControllerOptions;
  podAutoscaler?: PodAutoscalerControllerOptions;
  kvCache?: KVCacheControllerOptions;
  onLostLeadership?(): void;
}

/** Name → setup, in the order they start. */
export function knownControllers(options: ControllersOptions = {}): ControllerSetup[] {
  return [
    modelAdapterController(options.modelAdapter),
    podAutoscalerController(options.podAutoscaler),
    fleetController(),
    replicaSetController(),
    kvCacheController(options.kvCache),
  ];
}

/** Controllers that need a resource only an add-on serves (KubeRay's RayCluster), with that resource's API. */
const KUBERAY = { path: "/apis/ray.io/v1", what: "ray.io/v1 RayCluster (install the KubeRay operator)" };
const NEEDS_API: Record<string, { path: string; what: string }> = {
  [FLEET_CONTROLLER]: KUBERAY,
  [REPLICA_SET_CONTROLLER]: KUBERAY,
};

/** The enabled controllers whose add-on API is not served: they are left out (caches that never sync would stall). */
export async function unservedControllers(
  client: KubeClient,
  enabled: readonly string[],
): Promise<Map<string, string>> {
  const missing = new Map<string, string>();
  for (const name of enabled) {
    const need = NEEDS_API[name];
    if (!need) continue;
    const served = await client.get(need.path).then(
      () => true,
      () => false,
    );
    if (!served) missing.set(name, need.what);
  }
  return missing;
}

export const DEFAULT_LEASE_NAME = "aibrix-ts-controllers";

export async function startControllers(
  options: ControllersOptions = {},
): Promise<RunningManager & { client: KubeClient }> {
  const all = knownControllers(options);
  const enabled = selectControllers(
    options.controllers ?? "*",
    all.map((c) => c.name),
  );
  const log = pino({ name: "aibrix-ts-controllers", level: options.logLevel ?? "info" });
  const client = new KubeClient(loadKubeConfig(options.kubeconfig));
  for (const [name, what] of await unservedControllers(client, enabled)) {
    log.warn({ controller: name }, `${what} is not served; ${name} is left out until a restart finds it`);
    enabled.splice(enabled.indexOf(name), 1);
  }
  const election = options.leaderElection ?? { namespace: "aibrix-system" };
  const manager = await startManager({
    client,
    controllers: all.filter((c) => enabled.includes(c.name)),
    leaderElection: election === false ? false : { name: DEFAULT_LEASE_NAME, ...election },
    identity: options.identity,
    host: options.host,
    port: options.port,
    log,
    onLostLeadership: options.onLostLeadership,
  });
  return Object.assign(manager, { client });
}
