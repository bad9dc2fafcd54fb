// Every controller `aibrix-ts controllers` can run, and the one function that starts a leader-elected manager
// with the enabled ones.
import { pino } from "pino";
import { loadKubeConfig } from "../kube/client.js";
import { selectControllers, startManager, type ControllerSetup, type RunningManager } from "../kube/manager.js";
import { KubeClient } from "../kube/request.js";
import { kvCacheController, type KVCacheControllerOptions } from "./kvcache/index.js";
import { modelAdapterController, type ModelAdapterControllerOptions } from "./model-adapter/index.js";

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
  kvCache?: KVCacheControllerOptions;
  onLostLeadership?(): void;
}

/** Name → setup, in the order they start. */
export function knownControllers(options: ControllersOptions = {}): ControllerSetup[] {
  return [modelAdapterController(options.modelAdapter), kvCacheController(options.kvCache)];
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
