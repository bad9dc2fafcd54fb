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
  engine: Engine;
}

export function runTrace(config: EngineConfig, trace: readonly TraceRequest[], engine = new Engine(config)): TraceRun {
  const order = trace.map((_, i) => i).sort((a, b) => (trace[a] as TraceRequest).at - (trace[b] as TraceRequest).at);
  const results: TraceResult[] = new Array<TraceResult>(trace.length);
  let next = 0;
  let now = 0;
  let steps = 0;
  let makespan = 0;
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
    now = end;
  }
  return { results, makespan, steps, preemptions: engine.preemptions, engine };
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
  const trace: TraceRequest[] = [];
  for (let i = 0; i < count; i++) trace.push({ at: 0, promptTokens: uniquePrompt(i, prompt), maxTokens: output });
  const run = runTrace(config, trace);
  return (count * output) / run.makespan;
}
