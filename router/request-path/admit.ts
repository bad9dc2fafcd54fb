// The admit stage: admission control (auth, limits, fair queue) decides whether the request goes on, and may hold
// it in a queue. The client going away aborts both the wait and, later, the upstream request.
import type { ServerResponse } from "node:http";
import {
  admitAll,
  type AdmissionControl,
  type AdmissionRejection,
  type AdmissionTicket,
} from "../admission-control/control.js";
import type { OpenAIError } from "../forwarding/errors.js";
import type { Cancellation } from "../forwarding/proxy.js";
import type { AdmissionRequestView } from "../prompts/request-views.js";

export type AdmitOutcome = { ticket?: AdmissionTicket } | { error: OpenAIError } | { clientGone: true };

/**
 * Ties `cancel` to the client's connection and asks admission control. Without admission control nothing waits:
 * no AbortController (slow to make and to listen on) is made and no view of the request is built.
 */
export async function admitRequest(
  admission: AdmissionControl,
  view: () => AdmissionRequestView,
  res: ServerResponse,
  cancel: Cancellation,
): Promise<AdmitOutcome> {
  const abort = admission === admitAll ? undefined : new AbortController();
  res.on("close", () => {
    if (res.writableFinished) return;
    cancel.cancel();
    abort?.abort();
  });
  if (!abort) return cancel.cancelled ? { clientGone: true } : {};
  const decision = await admission.admit(view(), abort.signal);
  if (!decision.ok) return { error: rejectionError(decision.rejection) };
  if (cancel.cancelled) return { clientGone: true };
  return { ticket: decision.ticket };
}

export function rejectionError(r: AdmissionRejection): OpenAIError {
  return {
    status: r.status,
    message: r.error.message,
    code: r.error.code,
    param: r.error.param ?? null,
    headers: r.headers,
  };
}
