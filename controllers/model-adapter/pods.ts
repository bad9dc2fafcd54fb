// Which pods can hold an adapter, and how to reach each one's engine. Pure functions over cached pods.
import { selectorMatches, type LabelSelector } from "../../api/index.js";
import { Model, ModelDefaults, portLabel } from "../../api/labels.js";
import type { EngineAddress } from "../../engines/lora-client.js";
import type { KubeObject } from "../../kube/objects.js";

export interface Pod extends KubeObject {
  spec?: { containers?: { name: string; ports?: { containerPort: number; name?: string }[] }[] };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
  };
}

/** The runtime sidecar's container name and port (upstream's). */
export const RUNTIME_CONTAINER = "aibrix-runtime";
export const RUNTIME_PORT = 8080;

/** When the pod turned Ready, or undefined when it is not Ready. */
export function readySince(pod: Pod): number | undefined {
  const ready = pod.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status !== "True") return undefined;
  return ready.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : 0;
}

/** Pods that may hold the adapter: selected, running, Ready, not terminating, with an address. */
export function candidatePods(pods: readonly Pod[], selector: LabelSelector): Pod[] {
  return pods
    .filter(
      (p) =>
        !p.metadata?.deletionTimestamp &&
        p.status?.phase === "Running" &&
        Boolean(p.status.podIP) &&
        readySince(p) !== undefined &&
        selectorMatches(selector, p.metadata?.labels ?? {}),
    )
    .sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
}

export function engineAddress(pod: Pod, useSidecar: boolean): EngineAddress {
  const labels = pod.metadata?.labels ?? {};
  const hasSidecar = pod.spec?.containers?.some((c) => c.name === RUNTIME_CONTAINER) ?? false;
  return {
    host: pod.status?.podIP ?? "",
    port: portLabel(labels[Model.port], ModelDefaults.port),
    engine: labels[Model.engine] === "sglang" ? "sglang" : "vllm",
    ...(useSidecar && hasSidecar ? { sidecarPort: RUNTIME_PORT } : {}),
  };
}

export const podName = (pod: Pod): string => pod.metadata?.name ?? "";
