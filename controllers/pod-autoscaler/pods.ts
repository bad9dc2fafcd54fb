// Which of a scale target's pods count as serving capacity at an instant. A pod that is not Ready (pulling its
// image, loading weights: minutes for an LLM), is terminating, or turned Ready moments ago (cold caches, first
// compilations) neither adds capacity nor gets scraped: its idle metrics would read as spare room.
import { readySince, type Pod } from "../model-adapter/pods.js";

export type { Pod };

export interface PodStanding {
  pod: Pod;
  name: string;
  ready: boolean;
  terminating: boolean;
  warmingUp: boolean;
}

export function podStanding(pod: Pod, nowMs: number, warmUpMs: number): PodStanding {
  const since = pod.status?.phase === "Running" && pod.status.podIP ? readySince(pod) : undefined;
  const ready = since !== undefined;
  return {
    pod,
    name: pod.metadata?.name ?? "",
    ready,
    terminating: Boolean(pod.metadata?.deletionTimestamp),
    warmingUp: ready && since > 0 && nowMs - since < warmUpMs,
  };
}
