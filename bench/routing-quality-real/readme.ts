import { atLeast, type ReadmeEntry } from "../lib/figures.js";

/** kv-prefix-load at least 2× random's hit rate (and no lower than prefix-cache's, checked in the notes). */
export const TARGETS = { kvPrefixOverRandom: atLeast(2) };

/**
 * One workload's figures. The 2× target is held where it can be met: over three engines. With two engines and
 * uniform tenants 2× is the ratio's ceiling (see bench/routing-quality-real/main.ts), so those ratios carry none.
 */
const workload = (suffix: string, what: string, targeted: boolean): ReadmeEntry["figures"] => [
  { key: `real_engine_hit_rate_kv_prefix${suffix}`, label: `${what}: hit rate with kv-prefix-load`, digits: 3 },
  { key: `real_engine_hit_rate_prefix_cache${suffix}`, label: "with prefix-cache", digits: 3 },
  { key: `real_engine_hit_rate_random${suffix}`, label: "with random", digits: 3 },
  {
    key: `real_engine_kv_prefix_over_random${suffix}`,
    label: targeted ? "kv-prefix-load over random" : "kv-prefix-load over random (ceiling 2×)",
    unit: "×",
    ...(targeted ? { target: TARGETS.kvPrefixOverRandom } : {}),
  },
];

interface WorkloadParams {
  name: string;
  tenants: number;
  engines?: number;
}

/** How the workloads were sized (results from before the sizing counted each request's own blocks have none). */
function sizingNotes(params: Record<string, unknown>): string[] {
  const workloads = params.workloads as WorkloadParams[] | undefined;
  const { sharedBlocks, ownBlocks, usableBlocks } = params as Record<string, number | undefined>;
  if (!workloads || sharedBlocks === undefined || ownBlocks === undefined || usableBlocks === undefined) return [];
  const pressure = workloads.filter((w) => w.name.startsWith("kv-pressure"));
  if (pressure.length === 0) return [];
  const need = pressure
    .map((w) => `${w.name}'s ${w.tenants} tenants need ${((w.tenants * sharedBlocks) / usableBlocks).toFixed(2)}×`)
    .join(", ");
  return [
    `each request holds ${sharedBlocks} shared and ${ownBlocks} own blocks of an engine's ${usableBlocks} usable; ` +
      `${need} one engine's cache, an affinity share of them fits one with the requests in flight`,
  ];
}

/** Workloads where kv-prefix-load's median hit rate is under prefix-cache's: a miss of the "no lower" target. */
function underPrefixCache(summary: Record<string, number>): string[] {
  const notes: string[] = [];
  for (const [suffix, what] of SUFFIXES) {
    const kv = summary[`real_engine_hit_rate_kv_prefix${suffix}`];
    const approx = summary[`real_engine_hit_rate_prefix_cache${suffix}`];
    if (kv === undefined || approx === undefined || kv >= approx) continue;
    const spread = summary[`real_engine_hit_rate_kv_prefix${suffix}_spread`] ?? 0;
    notes.push(
      `${what}: kv-prefix-load is ${((approx - kv) * 100).toFixed(1)} points under prefix-cache ` +
        `[no lower: **MISSED**] (spread ${(spread * 100).toFixed(1)} points)`,
    );
  }
  return notes;
}

const SUFFIXES: [string, string][] = [
  ["", "tenants that fit"],
  ["_kv_pressure", "KV pressure, two engines"],
  ["_kv_pressure_3", "KV pressure, three engines"],
];

const entry: ReadmeEntry = {
  context: (r) =>
    `real vLLM ${String(r.params.vllm)} CPU engines (tiny model, ${String(r.params.engineBlocks)} KV blocks each), ` +
    `the engines' own prefix-cache hit rate, median of ${String(r.params.rounds)} rounds`,
  figures: [
    ...workload("", "two engines, tenants that fit each engine's cache", false),
    ...workload("_kv_pressure", "two engines, more tenants than one engine's cache holds", false),
    ...workload("_kv_pressure_3", "three engines, 12 tenants an engine under affinity", true),
  ],
  notes: (r) => [
    ...sizingNotes(r.params),
    "kv-prefix over random is bounded by the engine count with uniform tenants: with two engines 2× is the " +
      "ceiling, reached only if perfect affinity thrashes as hard as random; when tenants fit, random pays only " +
      "one more cold miss per tenant",
    "vLLM keeps finished requests' own blocks cached in LRU order, so a tenant ages out of its engine after " +
      "about 14 other requests there: under KV pressure even perfect affinity misses about a quarter of reuses",
    ...underPrefixCache(r.summary as Record<string, number>),
  ],
};
export default entry;
