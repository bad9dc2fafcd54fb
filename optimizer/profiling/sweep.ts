// A profiling sweep of one OpenAI-compatible engine (vLLM, the simulator, anything serving /v1/completions with
// streaming): for every input × output bucket, rates from low to high, each point a burst of Poisson arrivals whose
// latencies are measured per request. A point that meets the SLO is only kept once its arrivals lasted several
// request lifetimes (cut.ts, STEADY_SPANS); a shorter one is measured again with more requests. Prompts are token ids, so the input length is exact on any engine. Every point
// is appended to a JSON-lines file as soon as it is measured: a sweep stopped at any moment resumes where it was.
import { appendFile, readFile } from "node:fs/promises";
import type { SloSpec } from "../../api/gpu-profile.js";
import { isSteady, meetsSlo, meetsSloAtAnyLength, percentiles, steadyRequests, type SweepRow } from "./cut.js";

export interface SweepPlan {
  /** Base URL of the engine, e.g. http://127.0.0.1:8000 (unused with `measure`). */
  url: string;
  model: string;
  inputBuckets: number[];
  outputBuckets: number[];
  /** Offered rates, req/s, tried in ascending order. */
  rates: number[];
  /** Requests per point, at least; a point is lengthened until it is steady (cut.ts) or has `maxRequestsPerPoint`. */
  requestsPerPoint: number;
  /** Most requests one point may take (default 8192); a point that reached it is final, steady or not. */
  maxRequestsPerPoint?: number;
  slo: SloSpec;
  /** Where the measured rows go, one JSON object a line (read back to resume). */
  rowsFile: string;
  /** The engine's time runs this many times faster than real time (a simulator's --speedup); 1 for real engines. */
  timeScale?: number;
  apiKey?: string;
  /** Called after each point with (done, total, what). */
  onProgress?: (done: number, total: number, what: string) => void;
  /** Seconds one request may take before it counts as failed. */
  requestTimeoutSeconds?: number;
  /** Measures one point some other way (e.g. an engine model in virtual time) instead of over HTTP. */
  measure?: (input: number, output: number, rate: number, requests: number) => Promise<SweepRow>;
}

const DEFAULT_MAX_REQUESTS = 8192;

const pointKey = (i: number, o: number, r: number) => `${i}x${o}@${r}`;

export async function readRows(file: string): Promise<SweepRow[]> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return "";
    throw err;
  });
  // A line cut short by a stop mid-write is dropped; the point is measured again.
  return text.split("\n").flatMap((line) => {
    if (!line.trim()) return [];
    try {
      return [JSON.parse(line) as SweepRow];
    } catch {
      return [];
    }
  });
}

interface Timing {
  ok: boolean;
  ttft: number;
  e2e: number;
  tokens: number;
  /** performance.now() when it ended. */
  finished: number;
}

async function oneRequest(plan: SweepPlan, input: number, output: number, seq: number): Promise<Timing> {
  const prompt = Array.from({ length: input }, (_, i) => ((seq * 7919 + i * 104729) % 30000) + 100);
  const started = performance.now();
  let ttft = NaN;
  let tokens = 0;
  try {
    const res = await fetch(new URL("/v1/completions", plan.url), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(plan.apiKey ? { authorization: `Bearer ${plan.apiKey}` } : {}),
      },
      body: JSON.stringify({
        model: plan.model,
        prompt,
        max_tokens: output,
        min_tokens: output,
        ignore_eos: true,
        stream: true,
        temperature: 0,
      }),
      signal: AbortSignal.timeout((plan.requestTimeoutSeconds ?? 600) * 1000),
    });
    if (res.status !== 200 || !res.body) return { ok: false, ttft, e2e: NaN, tokens, finished: performance.now() };
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      const text = decoder.decode(chunk as Uint8Array, { stream: true });
      if (Number.isNaN(ttft) && text.includes('"text"')) ttft = (performance.now() - started) / 1000;
      tokens += text.split('"text"').length - 1;
    }
    const finished = performance.now();
    return { ok: true, ttft, e2e: (finished - started) / 1000, tokens, finished };
  } catch {
    return { ok: false, ttft, e2e: NaN, tokens, finished: performance.now() };
  }
}

/**
 * The offered rate scaled by how the completions kept pace with the arrivals actually drawn: an engine that keeps up
 * completes over the same span the requests arrived over (Poisson draws make that span vary from point to point, so
 * comparing against it, not the nominal rate, keeps a keeping-up engine at ~100 %).
 */
export function achievedRate(
  rate: number,
  arrivalSpan: number,
  completionSpan: number,
  done: number,
  sent: number,
): number {
  if (done < 2 || !(completionSpan > 0)) return 0;
  return rate * (arrivalSpan / completionSpan) * ((done - 1) / Math.max(1, sent - 1));
}

/** Measures one point: `requests` Poisson arrivals at `rate` (in the engine's time). */
export async function measurePoint(
  plan: SweepPlan,
  input: number,
  output: number,
  rate: number,
  requests = plan.requestsPerPoint,
): Promise<SweepRow> {
  const scale = plan.timeScale ?? 1;
  const realRate = rate * scale;
  let seed = (input * 31 + output * 17 + Math.round(rate * 1000)) >>> 0 || 1;
  const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  await oneRequest(plan, input, output, -1); // warms the connection; not counted
  const t0 = performance.now();
  const pending: Promise<Timing>[] = [];
  let at = 0;
  let lastArrival = 0;
  for (let i = 0; i < requests; i++) {
    const wait = t0 + at * 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    lastArrival = at;
    pending.push(oneRequest(plan, input, output, i));
    at += -Math.log(1 - random()) / realRate;
  }
  const timings = await Promise.all(pending);
  const ok = timings.filter((t) => t.ok && t.tokens > 0);
  // Completions per second between the first and the last completion: an engine that keeps up finishes requests as
  // fast as they arrive; one that falls behind stretches them out.
  const ends = ok.map((t) => t.finished).sort((a, b) => a - b);
  const span = ends.length > 1 ? (ends.at(-1)! - ends[0]!) / 1000 : NaN;
  const tpots = ok.filter((t) => t.tokens > 1).map((t) => ((t.e2e - t.ttft) / (t.tokens - 1)) * scale);
  return {
    inputTokens: input,
    outputTokens: output,
    rate,
    achievedRate: achievedRate(rate, lastArrival * scale, span * scale, ok.length, requests),
    samples: ok.length,
    arrivalSpan: lastArrival * scale,
    failures: timings.length - ok.length,
    e2e: percentiles(ok.map((t) => t.e2e * scale)),
    ttft: percentiles(ok.map((t) => t.ttft * scale)),
    tpot: percentiles(tpots),
  };
}

/**
 * Measures a point, sized from `hint` (the same point measured shorter, or the bucket's previous rate) so that its
 * arrivals span STEADY_SPANS median E2Es, and lengthens it while it meets the SLO but is not steady. A point that
 * misses the SLO is final at any length: a longer run of an overloaded engine only queues deeper. Each measurement
 * is appended to the rows file.
 */
async function measureSteady(
  plan: SweepPlan,
  input: number,
  output: number,
  rate: number,
  hint: SweepRow | undefined,
): Promise<SweepRow> {
  const max = plan.maxRequestsPerPoint ?? DEFAULT_MAX_REQUESTS;
  const measure = plan.measure ?? ((i, o, r, n) => measurePoint(plan, i, o, r, n));
  let requests = Math.min(
    max,
    hint ? steadyRequests(rate, hint.e2e.p50, plan.requestsPerPoint) : plan.requestsPerPoint,
  );
  for (;;) {
    const row = await measure(input, output, rate, requests);
    await appendFile(plan.rowsFile, JSON.stringify(row) + "\n");
    if (isSteady(row) || !meetsSloAtAnyLength(row, plan.slo) || requests >= max) return row;
    requests = Math.min(max, Math.max(requests * 2, steadyRequests(rate, row.e2e.p50, plan.requestsPerPoint)));
  }
}

/**
 * Runs the sweep, skipping points already in `rowsFile`. Within a bucket, rates above the first one that misses the
 * SLO are not measured (they cannot raise the bucket's throughput). Returns the row kept for every point measured.
 */
export async function runSweep(plan: SweepPlan): Promise<SweepRow[]> {
  // The last row of a point wins: a point lengthened on resume is appended again.
  const done = new Map(
    (await readRows(plan.rowsFile)).map((r) => [pointKey(r.inputTokens, r.outputTokens, r.rate), r]),
  );
  const rows: SweepRow[] = [];
  const rates = [...plan.rates].sort((a, b) => a - b);
  const max = plan.maxRequestsPerPoint ?? DEFAULT_MAX_REQUESTS;
  const total = plan.inputBuckets.length * plan.outputBuckets.length * rates.length;
  let count = 0;
  for (const output of plan.outputBuckets) {
    for (const input of plan.inputBuckets) {
      let failed = false;
      let previous: SweepRow | undefined;
      for (const rate of rates) {
        count++;
        const what = `input ${input} × output ${output} @ ${rate} req/s`;
        if (failed) {
          plan.onProgress?.(count, total, `${what} (skipped: a lower rate missed the SLO)`);
          continue;
        }
        let row = done.get(pointKey(input, output, rate));
        if (!row || (!isSteady(row) && meetsSloAtAnyLength(row, plan.slo) && row.samples + row.failures < max)) {
          row = await measureSteady(plan, input, output, rate, row ?? previous);
        }
        rows.push(row);
        failed = !meetsSlo(row, plan.slo);
        previous = row;
        plan.onProgress?.(count, total, what);
      }
    }
  }
  return rows;
}
