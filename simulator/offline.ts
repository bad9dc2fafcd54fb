// Runs the engine model in virtual time (no timers, no HTTP): a discrete-event replay of a request trace, used by
// the calibration benchmark and by tests that check scheduling outcomes exactly.
import { Engine, type EngineConfig, type FinishReason } from "./engine.js";

export interface TraceRequest {
  /** Arrival, simulated seconds. */
  at: number;
  promptTokens: readonly number[];
  maxTokens: number;
  lora?: { name: string; id: number };
}

export interface TraceResult {
  arrival: number;
  /** Seconds from arrival to the first token. */
  ttft: number;
  /** Seconds between successive tokens. */
  itls: number[];
  e2e: number;
  generated: number;
  finishReason: FinishReason;
}

export interface TraceRun {
  results: TraceResult[];
  /** Simulated time the last request finished. */
  makespan: number;
  steps: number;
  preemptions: number;
  /** Prompt tokens computed, recomputation after preemption included. */
  prefillTokens: number;
  /** Sequences scheduled per step, summed over steps. */
  scheduledSeqs: number;
  engine: Engine;
}

export function runTrace(config: EngineConfig, trace: readonly TraceRequest[], engine = new Engine(config)): TraceRun {
  const order = trace.map((_, i) => i).sort((a, b) => (trace[a] as TraceRequest).at - (trace[b] as TraceRequest).at);
  const results: TraceResult[] = new Array<TraceResult>(trace.length);
  let next = 0;
  let now = 0;
  let steps = 0;
  let makespan = 0;
  let prefillTokens = 0;
  let scheduledSeqs = 0;
  const submitDue = () => {
    while (next < order.length && (trace[order[next] as number] as TraceRequest).at <= now) {
      const idx = order[next++] as number;
      const r = trace[idx] as TraceRequest;
      const res: TraceResult = { arrival: r.at, ttft: NaN, itls: [], e2e: NaN, generated: 0, finishReason: "length" };
      let last = r.at;
      results[idx] = res;
      engine.submit(
        {
          id: `r${idx}`,
          promptTokens: r.promptTokens,
          maxTokens: r.maxTokens,
          finishReason: "length",
          lora: r.lora && { ...r.lora, path: `/models/${r.lora.name}` },
          outputToken: (i) => (idx * 31 + i) >>> 0,
          onToken: (i, t) => {
            if (i === 0) res.ttft = t - r.at;
            else res.itls.push(t - last);
            last = t;
            res.generated++;
          },
          onFinish: (reason, t) => {
            res.e2e = t - r.at;
            res.finishReason = reason;
            makespan = Math.max(makespan, t);
          },
        },
        r.at,
      );
    }
  };
  for (;;) {
    submitDue();
    const step = engine.plan(now);
    if (!step) {
      if (next >= order.length) break;
      now = (trace[order[next] as number] as TraceRequest).at;
      continue;
    }
    const end = now + step.duration;
    engine.commit(step, end);
    steps++;
    prefillTokens += step.prefillTokens;
    scheduledSeqs += step.work.length;
    now = end;
  }
  return { results, makespan, steps, preemptions: engine.preemptions, prefillTokens, scheduledSeqs, engine };
}

/** Distinct, prefix-free prompt tokens (no cache hits between requests). */
export function uniquePrompt(requestIndex: number, length: number): number[] {
  const out = new Array<number>(length);
  for (let i = 0; i < length; i++)
    out[i] = (Math.imul(requestIndex + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
  return out;
}

export interface CalibrationMeasurement {
  ttftMs?: number;
  itlMs?: number;
  outputTokS?: number;
}

/** Single request: TTFT of a `prompt`-token prompt, or mean ITL over `output` tokens. */
export function singleRequest(config: EngineConfig, prompt: number, output: number): { ttftMs: number; itlMs: number } {
  const run = runTrace(config, [{ at: 0, promptTokens: uniquePrompt(0, prompt), maxTokens: output }]);
  const r = run.results[0] as TraceResult;
  const itl = r.itls.length > 0 ? r.itls.reduce((a, b) => a + b, 0) / r.itls.length : NaN;
  return { ttftMs: r.ttft * 1000, itlMs: itl * 1000 };
}

/**
 * Saturation throughput as max-throughput benchmarks measure it: `count` requests all arriving at once;
 * output tokens divided by the time the last one finishes.
 */
export function saturationThroughput(config: EngineConfig, prompt: number, output: number, count: number): number {
  return saturationRun(config, prompt, output, count).outputTokS;
}

export interface SaturationRun {
  outputTokS: number;
  /** Mean sequences per step. */
  meanBatch: number;
  preemptions: number;
  /** Prompt tokens computed over prompt tokens sent: above 1 when preempted requests recompute. */
  prefillRecomputeRatio: number;
}

/** The saturation throughput with what shaped it: batch size, preemptions and recomputed prefill. */
export function saturationRun(config: EngineConfig, prompt: number, output: number, count: number): SaturationRun {
  const trace: TraceRequest[] = [];
  for (let i = 0; i < count; i++) trace.push({ at: 0, promptTokens: uniquePrompt(i, prompt), maxTokens: output });
  const run = runTrace(config, trace);
  return {
    outputTokS: (count * output) / run.makespan,
    meanBatch: run.scheduledSeqs / run.steps,
    preemptions: run.preemptions,
    prefillRecomputeRatio: run.prefillTokens / (count * prompt),
  };
}
