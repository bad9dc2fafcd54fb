// The node lists kube-scheduler sends an extender's filter, one per scheduling cycle, as its generic scheduler builds
// them (pkg/scheduler/schedule_one.go, v1.34): its own filters run over the nodes from a start index that rotates by
// the nodes processed each cycle, in chunks of ⌊√n⌋ (at most n / parallelism + 1) taken by `parallelism` workers,
// each feasible node appended as its worker finds it, until numFeasibleNodesToFind are found. The workers' progress
// is modelled as lock-step (one node per worker per step), so the order is their interleaving without timing noise.

/** kube-scheduler's minFeasibleNodesToFind and minFeasibleNodesPercentageToFind. */
const MIN_FEASIBLE_NODES = 100;
const MIN_FEASIBLE_PERCENTAGE = 5;

/** How many feasible nodes kube-scheduler looks for; `percentage` 0 is its adaptive default (50 − n/125, ≥ 5). */
export function feasibleNodesToFind(allNodes: number, percentage = 0): number {
  if (allNodes < MIN_FEASIBLE_NODES || percentage >= 100) return allNodes;
  let p = percentage;
  if (p <= 0) p = Math.max(MIN_FEASIBLE_PERCENTAGE, 50 - Math.floor(allNodes / 125));
  return Math.max(MIN_FEASIBLE_NODES, Math.floor((allNodes * p) / 100));
}

/** The parallelizer's chunk size for `n` pieces of work over `workers`. */
export function chunkSize(n: number, workers: number): number {
  return Math.max(1, Math.min(Math.floor(Math.sqrt(n)), Math.floor(n / workers) + 1));
}

export interface SchedulerListOptions {
  /** KubeSchedulerConfiguration.percentageOfNodesToScore; 0 or unset = adaptive (the chart sets none). */
  percentageOfNodesToScore?: number;
  /** KubeSchedulerConfiguration.parallelism (default 16). */
  parallelism?: number;
}

/**
 * The names kube-scheduler's filter step passes to the extender in each of `cycles` consecutive cycles, given which
 * nodes its own filters accept (`fits`, by node index).
 */
export function schedulerLists(
  names: readonly string[],
  fits: readonly boolean[],
  cycles: number,
  options: SchedulerListOptions = {},
): string[][] {
  const n = names.length;
  const workers = options.parallelism ?? 16;
  const want = feasibleNodesToFind(n, options.percentageOfNodesToScore);
  const size = chunkSize(n, workers);
  const lists: string[][] = [];
  let start = 0;
  for (let c = 0; c < cycles; c++) {
    const found: string[] = [];
    let processed = 0;
    let nextChunk = 0;
    const cursors: { at: number; end: number }[] = [];
    const take = () => {
      if (nextChunk >= n) return undefined;
      const chunk = { at: nextChunk, end: Math.min(n, nextChunk + size) };
      nextChunk += size;
      return chunk;
    };
    for (let w = 0; w < workers; w++) {
      const chunk = take();
      if (chunk) cursors.push(chunk);
    }
    while (found.length < want && cursors.length > 0) {
      for (let w = 0; w < cursors.length && found.length < want; w++) {
        const cur = cursors[w]!;
        const i = (start + cur.at) % n;
        processed++;
        if (fits[i]) found.push(names[i]!);
        cur.at++;
        if (cur.at >= cur.end) {
          const next = take();
          if (next) cursors[w] = next;
          else cursors.splice(w--, 1);
        }
      }
    }
    lists.push(found);
    start = (start + processed) % n;
  }
  return lists;
}
