// A fleet of simulated engines in virtual time: a request trace is routed across engines of several GPU types (each
// engine its own calibrated model, stepped on one shared clock) and every request's latencies are recorded. What-if
// questions — "does this mix of GPUs meet the SLO for this trace, and what does it cost?" — without a GPU or a clock.
import { Engine, type EngineConfig } from "./engine.js";
import { uniquePrompt } from "./offline.js";

export interface FleetEngine {
  /** GPU type this engine stands for. */
  type: string;
  config: EngineConfig;
}

export interface ReplayRequest {
  /** Arrival, seconds. */
  at: number;
  inputTokens: number;
  outputTokens: number;
}

export interface ReplayResult {
  type: string;
  engine: number;
  ttft: number;
  /** Mean time per output token after the first. */
  tpot: number;
  e2e: number;
}

/**
 * Which engine serves a request: `types` restricts the choice (a shape-aware router sends a request shape to the GPU
 * types its plan gives it), then the engine with the fewest requests in flight wins (the router's least-request).
 */
export type TypeChooser = (req: ReplayRequest, index: number) => string | undefined;

interface Slot {
  engine: Engine;
  type: string;
  now: number;
  pending?: { step: NonNullable<ReturnType<Engine["plan"]>>; end: number };
  inFlight: number;
}

/** Runs `slot` up to time `t`: steps that end by then are committed; a step in progress at `t` stays pending. */
function advance(slot: Slot, t: number): void {
  for (;;) {
    if (!slot.pending) {
      const step = slot.engine.plan(slot.now);
      if (!step) {
        slot.now = Math.max(slot.now, Math.min(t, Number.MAX_VALUE));
        return;
      }
      slot.pending = { step, end: slot.now + step.duration };
    }
    if (slot.pending.end > t) return;
    slot.engine.commit(slot.pending.step, slot.pending.end);
    slot.now = slot.pending.end;
    slot.pending = undefined;
  }
}

export function replayFleet(
  engines: readonly FleetEngine[],
  trace: readonly ReplayRequest[],
  chooseType?: TypeChooser,
): ReplayResult[] {
  if (engines.length === 0) throw new RangeError("fleet: give at least one engine");
  const slots: Slot[] = engines.map((e) => ({ engine: new Engine(e.config), type: e.type, now: 0, inFlight: 0 }));
  const results: ReplayResult[] = new Array<ReplayResult>(trace.length);
  const order = trace.map((_, i) => i).sort((a, b) => trace[a]!.at - trace[b]!.at);
  for (const idx of order) {
    const r = trace[idx]!;
    for (const s of slots) advance(s, r.at);
    const want = chooseType?.(r, idx);
    const pool = want === undefined ? slots : slots.filter((s) => s.type === want);
    if (pool.length === 0) throw new RangeError(`request ${idx}: no engine of GPU type ${want}`);
    let best = 0;
    for (let i = 1; i < pool.length; i++) if (pool[i]!.inFlight < pool[best]!.inFlight) best = i;
    const slot = pool[best]!;
    const engineIndex = slots.indexOf(slot);
    slot.inFlight++;
    let first = NaN;
    slot.engine.submit(
      {
        id: `r${idx}`,
        promptTokens: uniquePrompt(idx, Math.max(1, r.inputTokens)),
        maxTokens: Math.max(1, r.outputTokens),
        finishReason: "length",
        outputToken: (i) => (idx * 31 + i) >>> 0,
        onToken: (i, t) => {
          if (i === 0) first = t;
        },
        onFinish: (_reason, t) => {
          slot.inFlight--;
          const n = Math.max(1, r.outputTokens);
          results[idx] = {
            type: slot.type,
            engine: engineIndex,
            ttft: first - r.at,
            tpot: n > 1 ? (t - first) / (n - 1) : 0,
            e2e: t - r.at,
          };
        },
      },
      Math.max(r.at, slot.now),
    );
  }
  for (const s of slots) advance(s, Infinity);
  return results;
}
