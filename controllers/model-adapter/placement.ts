// Which candidate pod gets an adapter that wants one replica: upstream's policies, over what the controller knows.
// `spec.schedulerName` names the policy (upstream's field; "default" is leastAdapters).

export const PLACEMENT_POLICIES = ["leastAdapters", "binPack", "random", "leastLatency"] as const;
export type PlacementPolicy = (typeof PLACEMENT_POLICIES)[number];

export interface PodLoad {
  name: string;
  /** Adapters the pod holds now (from every ModelAdapter's status). */
  adapters: number;
  /** LoRA slots the engine reports (`vllm:lora_requests_info{max_lora}`), when known. */
  maxLoras?: number;
  /** Mean queue + inference seconds the engine reports, when known. */
  latencySeconds?: number;
}

export function placementPolicy(schedulerName: string | undefined): PlacementPolicy | undefined {
  if (schedulerName === undefined || schedulerName === "" || schedulerName === "default") return "leastAdapters";
  return PLACEMENT_POLICIES.find((p) => p === schedulerName);
}

const byName = (a: PodLoad, b: PodLoad) => a.name.localeCompare(b.name);

/**
 * The pod to load on, or undefined when none fits. Ties break by name so one state gives one answer.
 * binPack fills the pod with the least room left that still has a free slot (unknown capacity counts as room).
 */
export function choosePod(
  pods: readonly PodLoad[],
  policy: PlacementPolicy,
  random = Math.random,
): PodLoad | undefined {
  if (pods.length === 0) return undefined;
  const sorted = [...pods].sort(byName);
  switch (policy) {
    case "random":
      return sorted[Math.floor(random() * sorted.length)];
    case "leastAdapters":
      return sorted.reduce((best, p) => (p.adapters < best.adapters ? p : best));
    case "binPack": {
      const room = (p: PodLoad) => (p.maxLoras === undefined ? Infinity : p.maxLoras - p.adapters);
      const open = sorted.filter((p) => room(p) > 0);
      if (open.length === 0) return undefined;
      return open.reduce((best, p) => (room(p) < room(best) ? p : best));
    }
    case "leastLatency": {
      const latency = (p: PodLoad) => p.latencySeconds ?? Infinity;
      const best = sorted.reduce((b, p) => (latency(p) < latency(b) ? p : b));
      // No pod reports latency yet: fall back to spreading adapters.
      return latency(best) === Infinity ? choosePod(sorted, "leastAdapters") : best;
    }
  }
}
