// Which of a scale target's pods count as serving capacity at an instant, and which are on their way there. A pod
// that is not Ready (pulling its image, loading weights: minutes for an LLM), is terminating, or turned Ready moments
// ago (cold caches, first compilations) neither adds capacity nor gets scraped: its idle metrics would read as spare
// room. Such a pod still counts as starting while it is making progress, so the scale-up rate can grow the fleet from
// the pods already asked for instead of waiting for each one to turn Ready.
import { readySince, type Pod } from "../model-adapter/pods.js";

export type { Pod };

/**
 * How long a pod may take to turn Ready and still count as starting: the default `progressDeadlineSeconds` of a
 * Deployment (and Knative's `progress-deadline`), after which Kubernetes itself reports the rollout as stalled.
 */
export const START_UP_ALLOWANCE_MS = 600_000;

/** Container waiting reasons that mean the pod will not turn Ready without someone fixing something. */
const STUCK_REASONS = new Set([
  "CrashLoopBackOff",
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** The parts of a pod's status that say whether its start-up is making progress (the API sends them all). */
interface StartUpStatus {
  phase?: string;
  conditions?: { type: string; status: string; reason?: string }[];
  containerStatuses?: { restartCount?: number; state?: { waiting?: { reason?: string } } }[];
}

export interface PodStanding {
  pod: Pod;
  name: string;
  ready: boolean;
  terminating: boolean;
  warmingUp: boolean;
  /** Not Ready yet, but created within the start-up allowance, placed or placeable, and not crashing. */
  startingUp: boolean;
}

/** Whether a pod that is not Ready is still on its way to Ready (see START_UP_ALLOWANCE_MS and STUCK_REASONS). */
function makingProgress(pod: Pod, nowMs: number): boolean {
  const status: StartUpStatus | undefined = pod.status;
  const phase = status?.phase;
  if (phase !== undefined && phase !== "Pending" && phase !== "Running") return false;
  const created = Date.parse(pod.metadata?.creationTimestamp ?? "");
  if (!Number.isFinite(created) || nowMs - created >= START_UP_ALLOWANCE_MS) return false;
  const unschedulable = status?.conditions?.some(
    (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
  );
  if (unschedulable) return false;
  return !(status?.containerStatuses ?? []).some(
    (c) => (c.restartCount ?? 0) > 0 || STUCK_REASONS.has(c.state?.waiting?.reason ?? ""),
  );
}

export function podStanding(pod: Pod, nowMs: number, warmUpMs: number): PodStanding {
  const since = pod.status?.phase === "Running" && pod.status.podIP ? readySince(pod) : undefined;
  const ready = since !== undefined;
  const terminating = Boolean(pod.metadata?.deletionTimestamp);
  return {
    pod,
    name: pod.metadata?.name ?? "",
    ready,
    terminating,
    warmingUp: ready && since > 0 && nowMs - since < warmUpMs,
    startingUp: !ready && !terminating && makingProgress(pod, nowMs),
  };
}

/** Asked for and on its way to serving: loading (within the allowance, not stuck) or Ready but still warming up. */
export function countsAsStarting(p: Pick<PodStanding, "terminating" | "warmingUp" | "startingUp">): boolean {
  return !p.terminating && (p.warmingUp || p.startingUp);
}
