// One round of the overhead benchmark against one target: latency at a steady rate (short, streaming and long
// prompts), capacity in a closed loop, and the router process's CPU time per request in each phase.
import { closedLoop, makePool, openLoop, percentile, round, type Sample } from "../router-common/loadgen.js";
import { cpuSeconds, type Proc } from "../router-common/processes.js";
import { longRequest, plain, streaming } from "./workload.js";

export const RATE = 1000;
export const CONCURRENCY = 64;
/**
 * The first window after a router starts, measured on its own. A JIT runtime (ours: V8) serves it slower than its
 * steady state: on this workload our router's p99 was 6.1 ms in its first 5 s and 1.0 ms in the next 5, and stayed
 * at 0.6-0.9 ms from then on, its CPU per request 278, 132, then 112-124 µs. Every router gets the same schedule.
 */
export const COLD_MS = 5000;
/** At the phase's own load before each measured phase (after the cold window for the first). */
export const WARM_MS = 5000;

export interface TargetRound {
  target: string;
  p50_ms: number;
  p99_ms: number;
  stream_p50_ms: number;
  stream_p99_ms: number;
  long_p50_ms: number;
  long_p99_ms: number;
  /** Short prompts at RATE in the COLD_MS right after the router started. */
  cold_p50_ms: number;
  cold_p99_ms: number;
  errors: number;
  max_rps: number;
  /** Router CPU µs per request: short prompts at RATE, long prompts at RATE, and the closed loop (absent: direct). */
  cpu_us_per_req?: number;
  cpu_us_per_req_long?: number;
  cpu_us_per_req_closed?: number;
  cpu_us_per_req_cold?: number;
}

/** Runs `phase` and returns its samples with the router's CPU µs per request over it (undefined without a router). */
async function withCpu(
  router: Proc | undefined,
  phase: () => Promise<Sample[]>,
): Promise<{ samples: Sample[]; cpuUs?: number }> {
  const before = router ? cpuSeconds(router) : NaN;
  const samples = await phase();
  const used = router ? cpuSeconds(router) - before : NaN;
  if (!Number.isFinite(used) || samples.length === 0) return { samples };
  return { samples, cpuUs: round((used * 1e6) / samples.length, 1) };
}

const ok = (xs: readonly Sample[]) => xs.filter((x) => x.status === 200).map((x) => x.ms);

export async function measureTarget(
  target: string,
  router: Proc | undefined,
  url: string,
  openMs: number,
  closedMs: number,
): Promise<TargetRound> {
  // One pool per phase kind. The first window after start is measured apart (cold), then each phase is warmed at its
  // own load: connection set-up and JIT compilation are not the steady state a long-running router serves in.
  const open = makePool(url, CONCURRENCY);
  const cold = await withCpu(router, () => openLoop(open, () => plain, RATE, Math.min(COLD_MS, openMs)));
  await openLoop(open, () => plain, RATE, Math.min(WARM_MS, openMs));
  const a = await withCpu(router, () => openLoop(open, () => plain, RATE, openMs));
  await openLoop(open, () => streaming, RATE, 1000);
  const s = await openLoop(open, () => streaming, RATE, openMs);
  await openLoop(open, (i) => longRequest(i), RATE, 1000);
  const l = await withCpu(router, () => openLoop(open, (i) => longRequest(i), RATE, openMs));
  await open.close();
  const closed = makePool(url, CONCURRENCY);
  await closedLoop(closed, () => plain, CONCURRENCY, 1000);
  let rps = 0;
  const c = await withCpu(router, async () => {
    const r = await closedLoop(closed, () => plain, CONCURRENCY, closedMs);
    rps = r.rps;
    return r.samples;
  });
  await closed.close();
  return {
    target,
    p50_ms: round(percentile(ok(a.samples), 50)),
    p99_ms: round(percentile(ok(a.samples), 99)),
    stream_p50_ms: round(percentile(ok(s), 50)),
    stream_p99_ms: round(percentile(ok(s), 99)),
    long_p50_ms: round(percentile(ok(l.samples), 50)),
    long_p99_ms: round(percentile(ok(l.samples), 99)),
    cold_p50_ms: round(percentile(ok(cold.samples), 50)),
    cold_p99_ms: round(percentile(ok(cold.samples), 99)),
    errors: [...cold.samples, ...a.samples, ...s, ...l.samples, ...c.samples].filter((x) => x.status !== 200).length,
    max_rps: Math.round(rps),
    ...(a.cpuUs !== undefined ? { cpu_us_per_req: a.cpuUs } : {}),
    ...(l.cpuUs !== undefined ? { cpu_us_per_req_long: l.cpuUs } : {}),
    ...(c.cpuUs !== undefined ? { cpu_us_per_req_closed: c.cpuUs } : {}),
    ...(cold.cpuUs !== undefined ? { cpu_us_per_req_cold: cold.cpuUs } : {}),
  };
}
