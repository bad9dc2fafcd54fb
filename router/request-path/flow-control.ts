// The flow-control stage: flow control (auth, limits, fair queue) decides whether the request goes on, and may hold
// it in a queue. The client going away aborts both the wait and, later, the upstream request.
import type { ServerResponse } from "node:http";
import { passAll, type FlowControl, type FlowRejection, type FlowTicket } from "../flow-control/control.js";
import type { OpenAIError } from "../forwarding/errors.js";
import type { Cancellation } from "../forwarding/proxy.js";
import type { FlowRequestView } from "../prompts/request-views.js";

export type FlowOutcome = { ticket?: FlowTicket } | { error: OpenAIError } | { clientGone: true };

/** What flow control that never waits is handed: no request can be aborted while nothing holds it. */
const NEVER_ABORTED = new AbortController().signal;

/**
 * Ties `cancel` to the client's connection and asks flow control. Flow control that lets everything through at
 * once gets no AbortController of its own (slow to make and to listen on); without flow control at all, no view of
 * the request is built either.
 */
export async function enterFlowControl(
  flowControl: FlowControl,
  view: () => FlowRequestView,
  res: ServerResponse,
  cancel: Cancellation,
): Promise<FlowOutcome> {
  const abort = flowControl.passesAll ? undefined : new AbortController();
  res.on("close", () => {
    if (res.writableFinished) return;
    cancel.cancel();
    abort?.abort();
  });
  if (flowControl === passAll) return cancel.cancelled ? { clientGone: true } : {};
  const decision = await flowControl.acquire(view(), abort?.signal ?? NEVER_ABORTED);
  if (!decision.ok) return { error: rejectionError(decision.rejection) };
  if (cancel.cancelled) return { clientGone: true };
  return { ticket: decision.ticket };
}

export function rejectionError(r: FlowRejection): OpenAIError {
  return {
    status: r.status,
    message: r.error.message,
    code: r.error.code,
    param: r.error.param ?? null,
    headers: r.headers,
  };
}
