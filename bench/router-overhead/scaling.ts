// How each router's capacity grows with cores: our router as 1 and 2 worker processes on one port, the peers with 1
// and 2 runtime threads, each pinned with taskset to the same CPUs (1 core: cpu 1; 2 cores: cpus 0-1), measured in a
// closed loop of short requests like the main phase's capacity figure. The engines and the load generator are not
// pinned: on a machine with as many cores as the largest arm they share those cores, alike for every router.
import { closedLoop, makePool, round } from "../router-common/loadgen.js";
import {
  startOurRouter,
  startPeer,
  threadCount,
  treeCpuSeconds,
  type EngineFleet,
  type Launch,
  type PeerName,
  type Proc,
} from "../router-common/processes.js";
import { median, spread } from "../lib/stats.js";
import { CONCURRENCY } from "./measure.js";
import { MODEL, plain } from "./workload.js";

export const SCALING_CORES = [1, 2] as const;
const OUR_STRATEGY = "least-request";

export interface ScalingRound {
  router: string;
  cores: number;
  cpus: string;
  max_rps: number;
  cpu_us_per_req?: number;
  /** Threads of the router's (primary) process while it ran. */
  threads: number;
}

export interface ScalingResult {
  router: string;
  cores: number;
  cpus: string;
  max_rps: number;
  max_rps_spread: number;
  cpu_us_per_req?: number;
  rounds: number;
}

interface ScalingArm {
  router: string;
  start: (launch: Launch) => Promise<Proc>;
}

/** The CPUs an arm of `cores` is pinned to. */
export function cpusFor(cores: number): string {
  return cores === 1 ? "1" : `0-${cores - 1}`;
}

export function scalingArms(fleet: EngineFleet, peers: readonly PeerName[], peerPolicy: string): ScalingArm[] {
  return [
    { router: "aibrix-ts", start: (l) => startOurRouter(fleet, MODEL, OUR_STRATEGY, {}, l) },
    ...peers.map((peer) => ({ router: peer, start: (l: Launch) => startPeer(peer, fleet, MODEL, peerPolicy, [], l) })),
  ];
}

/** One closed-loop capacity measurement of one arm at one core count. */
export async function measureScalingRound(arm: ScalingArm, cores: number, closedMs: number): Promise<ScalingRound> {
  const launch: Launch = { cpus: cpusFor(cores), parallelism: cores };
  const proc = await arm.start(launch);
  try {
    const pool = makePool(proc.url, CONCURRENCY);
    await closedLoop(pool, () => plain, CONCURRENCY, 1000);
    const before = treeCpuSeconds(proc);
    const r = await closedLoop(pool, () => plain, CONCURRENCY, closedMs);
    const used = treeCpuSeconds(proc) - before;
    const threads = threadCount(proc);
    await pool.close();
    const served = r.samples.length;
    return {
      router: arm.router,
      cores,
      cpus: launch.cpus,
      max_rps: Math.round(r.rps),
      ...(Number.isFinite(used) && served > 0 ? { cpu_us_per_req: round((used * 1e6) / served, 1) } : {}),
      threads,
    };
  } finally {
    await proc.stop();
  }
}

/** Medians over rounds per router and core count, and the summary figures: capacity per core count and its growth. */
export function summariseScaling(rounds: readonly ScalingRound[]): {
  results: ScalingResult[];
  summary: Record<string, number>;
} {
  const groups = new Map<string, ScalingRound[]>();
  for (const r of rounds) {
    const k = `${r.router}|${r.cores}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const results: ScalingResult[] = [...groups.values()].map((rs) => {
    const cpu = rs.map((r) => r.cpu_us_per_req).filter((x): x is number => x !== undefined);
    return {
      router: rs[0]!.router,
      cores: rs[0]!.cores,
      cpus: rs[0]!.cpus,
      max_rps: Math.round(median(rs.map((r) => r.max_rps))),
      max_rps_spread: Math.round(spread(rs.map((r) => r.max_rps))),
      ...(cpu.length > 0 ? { cpu_us_per_req: round(median(cpu), 1) } : {}),
      rounds: rs.length,
    };
  });
  const rps = (router: string, cores: number) => results.find((r) => r.router === router && r.cores === cores)?.max_rps;
  const summary: Record<string, number> = {};
  const key = (router: string) => (router === "aibrix-ts" ? "" : `_${router.replace(/-/g, "_")}`);
  for (const router of new Set(results.map((r) => r.router))) {
    for (const cores of SCALING_CORES) {
      const v = rps(router, cores);
      if (v !== undefined) summary[`max_rps_${cores}_core${cores > 1 ? "s" : ""}${key(router)}`] = v;
    }
    const one = rps(router, 1);
    const two = rps(router, 2);
    if (one && two) summary[`scaling_2_over_1_cores${key(router)}`] = round(two / one, 3);
    const ours1 = rps("aibrix-ts", 1);
    const ours2 = rps("aibrix-ts", 2);
    if (router !== "aibrix-ts" && one && two && ours1 && ours2) {
      summary[`max_rps_1_core_x${key(router)}`] = round(ours1 / one, 3);
      summary[`max_rps_2_cores_x${key(router)}`] = round(ours2 / two, 3);
    }
  }
  return { results, summary };
}
