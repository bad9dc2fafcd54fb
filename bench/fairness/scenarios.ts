// The fairness benchmark's workloads, fixed before measuring, and how service is counted from what the clients saw.
//
// Service is counted as VTC counts it (Sheng et al., OSDI'24): a request's prompt tokens × the input weight when its
// first token arrives (it was dispatched just before), each completion token × the output weight when it streams.
// VTC's guarantee under continuous batching: while two users are both backlogged, the service they receive over any
// interval differs by at most 2·U, U = max(input weight × the longest prompt, output weight × M), M the most tokens a
// running batch holds; FCFS and static per-user limits give no such bound.

export const INPUT_WEIGHT = 1;
export const OUTPUT_WEIGHT = 2;

export interface UserLoad {
  user: string;
  /** Offered requests per second, as a multiple of the measured capacity (req/s of the calibration shape). */
  rateOfCapacity: number;
  /** Words of filler in the prompt (0 = a one-line question). */
  promptWords: number;
  maxTokens: number;
  /** Sends only during the first `onMs` of every `periodMs` (an on/off client). */
  onOff?: { periodMs: number; onMs: number };
  /** Asks for more than a fair share, so it stays backlogged (while on): the pairs VTC's bound is checked on. */
  backlogged: boolean;
}

export interface Scenario {
  name: string;
  title: string;
  users: UserLoad[];
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "unequal_rates",
    title: "one heavy user at 10× each of three light users, 2× capacity offered",
    users: [
      { user: "heavy", rateOfCapacity: (2 * 10) / 13, promptWords: 0, maxTokens: 64, backlogged: true },
      { user: "light-1", rateOfCapacity: 2 / 13, promptWords: 0, maxTokens: 64, backlogged: false },
      { user: "light-2", rateOfCapacity: 2 / 13, promptWords: 0, maxTokens: 64, backlogged: false },
      { user: "light-3", rateOfCapacity: 2 / 13, promptWords: 0, maxTokens: 64, backlogged: false },
    ],
  },
  {
    name: "mixed_lengths",
    title: "three backlogged users with different shapes: long prompts, long outputs, short both",
    users: [
      { user: "long-prompt", rateOfCapacity: 1, promptWords: 300, maxTokens: 16, backlogged: true },
      { user: "long-output", rateOfCapacity: 1, promptWords: 0, maxTokens: 256, backlogged: true },
      { user: "short", rateOfCapacity: 1, promptWords: 0, maxTokens: 32, backlogged: true },
    ],
  },
  {
    name: "on_off",
    title: "a steady user at 2× capacity and an on/off user at 1.5× capacity, 5 s on, 5 s off",
    users: [
      { user: "steady", rateOfCapacity: 2, promptWords: 0, maxTokens: 64, backlogged: true },
      {
        user: "on-off",
        rateOfCapacity: 1.5,
        promptWords: 0,
        maxTokens: 64,
        onOff: { periodMs: 10_000, onMs: 5_000 },
        backlogged: true,
      },
    ],
  },
  {
    name: "overload",
    title: "four equal users, 4× capacity offered",
    users: ["u1", "u2", "u3", "u4"].map((user) => ({
      user,
      rateOfCapacity: 1,
      promptWords: 0,
      maxTokens: 64,
      backlogged: true,
    })),
  },
];

/** What one request's client saw: when service arrived and how much. */
export interface Served {
  user: string;
  sentAt: number;
  status: number;
  latencyMs: number;
  promptTokens: number;
  /** Arrival time of each streamed chunk that carried text, ms (same clock as sentAt). */
  chunkTimes: number[];
  completionTokens: number;
}

export interface ServiceEvent {
  at: number;
  user: string;
  amount: number;
}

/** Weighted service over time: the prompt at the first chunk, completion tokens spread over the chunks that bore them. */
export function serviceEvents(requests: readonly Served[]): ServiceEvent[] {
  const events: ServiceEvent[] = [];
  for (const r of requests) {
    if (r.status !== 200 || r.chunkTimes.length === 0) continue;
    events.push({ at: r.chunkTimes[0]!, user: r.user, amount: INPUT_WEIGHT * r.promptTokens });
    const perChunk = (OUTPUT_WEIGHT * r.completionTokens) / r.chunkTimes.length;
    for (const at of r.chunkTimes) events.push({ at, user: r.user, amount: perChunk });
  }
  return events.sort((a, b) => a.at - b.at);
}

/**
 * VTC's U for what was served: max(input weight × the longest prompt, output weight × M), M = `batchSlots` × the most
 * tokens one request held (the router lets at most `batchSlots` requests run at once).
 */
export function vtcUnit(requests: readonly Served[], batchSlots: number): number {
  let longestPrompt = 0;
  let largestRequest = 0;
  for (const r of requests) {
    if (r.status !== 200) continue;
    longestPrompt = Math.max(longestPrompt, r.promptTokens);
    largestRequest = Math.max(largestRequest, r.promptTokens + r.completionTokens);
  }
  return Math.max(INPUT_WEIGHT * longestPrompt, OUTPUT_WEIGHT * batchSlots * largestRequest);
}

/**
 * The largest |W_a(t1, t2) − W_b(t1, t2)| over intervals inside [from, to): the range of the running difference
 * W_a − W_b there (its maximum minus its minimum).
 */
export function serviceDifference(
  events: readonly ServiceEvent[],
  a: string,
  b: string,
  from: number,
  to: number,
): number {
  let diff = 0;
  let lo = 0;
  let hi = 0;
  for (const e of events) {
    if (e.at < from || e.at >= to) continue;
    if (e.user === a) diff += e.amount;
    else if (e.user === b) diff -= e.amount;
    else continue;
    lo = Math.min(lo, diff);
    hi = Math.max(hi, diff);
  }
  return hi - lo;
}

/** Each user's service in [from, to). */
export function serviceByUser(events: readonly ServiceEvent[], from: number, to: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) if (e.at >= from && e.at < to) out.set(e.user, (out.get(e.user) ?? 0) + e.amount);
  return out;
}

/** Jain's fairness index of the amounts: 1 when equal, 1/n when one user has everything. */
export function jainIndex(amounts: readonly number[]): number {
  const n = amounts.length;
  const sum = amounts.reduce((s, x) => s + x, 0);
  const squares = amounts.reduce((s, x) => s + x * x, 0);
  return n === 0 || squares === 0 ? 0 : (sum * sum) / (n * squares);
}

/** The spans [from, to) in which an on/off user sends, within a run of `durationMs` starting at 0. */
export function onSpans(onOff: { periodMs: number; onMs: number }, durationMs: number): [number, number][] {
  const spans: [number, number][] = [];
  for (let start = 0; start < durationMs; start += onOff.periodMs)
    spans.push([start, Math.min(durationMs, start + onOff.onMs)]);
  return spans;
}
