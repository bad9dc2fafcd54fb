// The one place that says what went wrong with an attempt on an engine, and what the client gets when no retry is
// left: every failure before the client saw a byte has a metric label, a line for the endpoint's failure log, a short
// form for the final "every endpoint tried failed" message, and its own answer.
import type { OpenAIError } from "../forwarding/errors.js";
import type { FailureReason } from "../forwarding/proxy.js";

export interface AttemptFailure {
  /** Label of `router_retries_total{reason}`. */
  reason: string;
  /** Why, as the endpoint's failure log and ejection record it. */
  detail: string;
  /** `<endpoint> <what>`, listed when every endpoint tried failed. */
  summary: string;
  /** The answer when this failure is the last one (absent: the engine's own answer is relayed as it is). */
  answer?: OpenAIError;
}

/** A failure that has an answer of its own for the client. */
export type AnsweredFailure = AttemptFailure & { answer: OpenAIError };

/** The engine could not be reached, or did not answer in time (`aborted`: the client went away, not a failure). */
export function transportFailure(
  endpointId: string,
  reason: Exclude<FailureReason, "aborted">,
  error: Error,
): AnsweredFailure {
  const timedOut = reason === "timeout";
  return {
    reason,
    detail: `${reason}: ${error.message}`,
    summary: `${endpointId} ${reason}`,
    answer: {
      status: timedOut ? 504 : 502,
      message: `engine ${endpointId} ${timedOut ? "timed out" : "failed"} before responding (${error.message})`,
      code: "upstream_error",
    },
  };
}

/** The engine answered with a server error: worth another endpoint, else its own answer goes to the client. */
export function statusFailure(endpointId: string, status: number): AttemptFailure | undefined {
  if (status < 500) return undefined;
  return { reason: `status_${status}`, detail: `status ${status}`, summary: `${endpointId} status ${status}` };
}

/** The engine failed while sending a (buffered) body. */
export function bodyFailure(endpointId: string, error: Error): AnsweredFailure {
  return {
    reason: "body",
    detail: `body: ${error.message}`,
    summary: `${endpointId} body`,
    answer: {
      status: 502,
      message: `engine ${endpointId} failed while sending its response (${error.message})`,
      code: "upstream_error",
    },
  };
}
