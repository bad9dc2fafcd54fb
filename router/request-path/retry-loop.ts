// The one retry loop of the request path: pick an endpoint, try it, and on a failure before the client saw a byte
// try another one while the retry policy and budget allow; the endpoint that failed is not picked again.
import type { OpenAIError } from "../forwarding/errors.js";
import type { AnsweredFailure, AttemptFailure } from "./failure.js";
import type { RetryPolicy } from "./retry.js";

/** How one attempt on one endpoint ended. */
export type AttemptOutcome =
  /** The client has its answer (a relayed stream counts, however it ended). */
  | { kind: "answered" }
  /** The client went away before an answer. */
  | { kind: "client-gone" }
  /** The endpoint failed; retried when allowed, else `failure.answer` goes to the client. */
  | { kind: "failed"; failure: AnsweredFailure }
  /** The endpoint failed and the attempt already asked `mayRetry()`, which allowed it. */
  | { kind: "retry"; failure: AttemptFailure };

export type LoopEnd = { kind: "answered" } | { kind: "client-gone" } | { kind: "refused"; error: OpenAIError };

export interface RetryLoop<E> {
  /** Every endpoint of the model (a retry needs one not tried yet). */
  pool: readonly E[];
  policy: Pick<RetryPolicy, "maxRetries">;
  budget: { take(): boolean };
  cancelled(): boolean;
  /** The endpoint for this attempt, or the answer when none is left; `lastFailure` summarises the previous one. */
  pick(attempt: number, exclude: ReadonlySet<E>, lastFailure: string): { endpoint: E } | { error: OpenAIError };
  /** Sends the request to `ep` (whose slot the loop has taken) and relays its answer, or says why it failed. */
  attempt(ep: E, attempt: number, mayRetry: () => boolean): Promise<AttemptOutcome>;
  /** Takes a slot on `ep` for this request. */
  acquire(ep: E): void;
  /** `ep`'s slot is free again: the attempt ended, however it ended. */
  release(ep: E): void;
  onFailure(ep: E, failure: AttemptFailure): void;
  onRetry(failure: AttemptFailure): void;
}

export async function runWithRetries<E>(loop: RetryLoop<E>): Promise<LoopEnd> {
  const exclude = new Set<E>();
  let lastFailure = "";
  for (let attempt = 0; ; attempt++) {
    const picked = loop.pick(attempt, exclude, lastFailure);
    if ("error" in picked) return { kind: "refused", error: picked.error };
    const ep = picked.endpoint;
    // Retry only when another endpoint is left to try; otherwise the engine's own answer is the best one.
    const mayRetry = () =>
      attempt < loop.policy.maxRetries &&
      !loop.cancelled() &&
      loop.pool.some((o) => o !== ep && !exclude.has(o)) &&
      loop.budget.take();
    loop.acquire(ep);
    let outcome: AttemptOutcome;
    try {
      outcome = await loop.attempt(ep, attempt, mayRetry);
    } finally {
      loop.release(ep);
    }
    if (outcome.kind === "answered" || outcome.kind === "client-gone") return outcome;
    loop.onFailure(ep, outcome.failure);
    lastFailure = outcome.failure.summary;
    if (outcome.kind === "failed" && !mayRetry()) return { kind: "refused", error: outcome.failure.answer };
    loop.onRetry(outcome.failure);
    exclude.add(ep);
  }
}
