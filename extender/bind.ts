// Bind: hold devices on the chosen node, post the Binding carrying the device pin as a pod annotation (the API server
// copies a Binding's annotations onto the pod in the same write that sets nodeName), then confirm or give them back.
import { Scheduling } from "../api/labels.js";
import { formatDeviceList, podGpuRequest } from "./pod.js";
import type { ClusterState } from "./state.js";
import type { ExtenderBindingArgs, PodObject } from "./wire.js";

export interface BindingRequest {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  annotations: Record<string, string>;
}

/** Cluster writes bind needs; the Kubernetes implementation is in kube.ts, tests pass their own. */
export interface PodBinder {
  /** Posts `pods/{name}/binding`; rejects with the API server's message when it refuses. */
  bind(req: BindingRequest): Promise<void>;
  /** Reads a pod the informer has not delivered yet (its GPU request decides how many devices to hold). */
  getPod(namespace: string, name: string): Promise<PodObject>;
}

export interface BindOutcome {
  error: string;
  devices: number[] | undefined;
}

export async function bindPod(
  state: ClusterState,
  binder: PodBinder,
  args: ExtenderBindingArgs,
  gpuResource: string,
  /** Told how long the Binding POST took (answered or refused). */
  onPosted?: (seconds: number) => void,
): Promise<BindOutcome> {
  const who = `${args.PodNamespace}/${args.PodName}`;
  let pending = state.pendingPod(args.PodUID);
  if (!pending) {
    try {
      const pod = await binder.getPod(args.PodNamespace, args.PodName);
      if (pod.metadata?.uid && pod.metadata.uid !== args.PodUID) {
        return {
          error: `pod ${who} has UID ${pod.metadata.uid}, not ${args.PodUID}: it was replaced`,
          devices: undefined,
        };
      }
      pending = { namespace: args.PodNamespace, name: args.PodName, gpus: podGpuRequest(pod, gpuResource) };
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      return { error: `cannot read pod ${who} to count its GPUs: ${msg}`, devices: undefined };
    }
  }
  const held = state.reserve({ uid: args.PodUID, ...pending }, args.Node);
  if (typeof held === "string") return { error: held, devices: undefined };
  const annotations: Record<string, string> = {};
  if (held.length > 0) annotations[Scheduling.assignedDevices] = formatDeviceList(held);
  const posted = performance.now();
  try {
    await binder.bind({
      namespace: args.PodNamespace,
      name: args.PodName,
      uid: args.PodUID,
      node: args.Node,
      annotations,
    });
  } catch (err) {
    onPosted?.((performance.now() - posted) / 1000);
    state.release(args.PodUID, held);
    const msg = err instanceof Error ? err.message : String(err);
    return { error: `binding ${who} to ${args.Node} failed: ${msg}`, devices: undefined };
  }
  onPosted?.((performance.now() - posted) / 1000);
  state.confirm(args.PodUID, held);
  return { error: "", devices: held };
}
