// One flow-control decision: the caller (authorize.ts), the model's request rate, the user's RPM/TPM, then the fair
// queue in front of a saturated model; a ticket, when granted, settles the token charge when the request ends.
import type { FlowDecision, FlowRequest, FlowTicket, TokenUsage } from "./control.js";
import type { QueueRefusal } from "./fairness/fair-queue.js";
import { priorityClass } from "./fairness/priority.js";
import { SharedStateUnavailable } from "./limits/backend.js";
import type { UserCharge } from "./limits/limiter.js";
import { authorize } from "./authorize.js";
import { refuse, type FlowParts } from "./parts.js";
import { limitRejection, rejection } from "./rejections.js";

const ANONYMOUS = "(anonymous)";

export async function acquire(parts: FlowParts, req: FlowRequest, signal: AbortSignal): Promise<FlowDecision> {
  const { limiter, queue, gate, metrics, now } = parts;
  const started = now();
  try {
    const caller = await authorize(parts, req);
    if ("ok" in caller) return caller;
    const { tenant, user, priority } = caller;

    const rps = await limiter.takeModelRps(req.model, req.profileRps);
    if (rps && "limit" in rps) return refuse(parts, limitRejection(rps, req.model, 1000), "model-rps");
    const rpsBucket = rps?.bucket;
    const refundRps = () => (rpsBucket !== undefined ? limiter.refundModelRps(req.model, rpsBucket) : undefined);

    let charge: UserCharge | undefined;
    if (user && tenant && (user.rpm !== null || user.tpm !== null)) {
      const reserve = req.promptTokens + (req.maxTokens ?? 0);
      const taken = await limiter.takeUser(tenant, user.rpm, user.tpm, reserve);
      if (!taken.ok) {
        await refundRps();
        return refuse(parts, limitRejection(taken.hit, tenant, parts.limitsConfig.userWindowMs), taken.hit.limit);
      }
      charge = taken.charge;
    }

    const fairUser = tenant ?? ANONYMOUS;
    const outcome = await queue.enter(req.model, fairUser, priority, req.promptTokens, req.id, signal);
    metrics.wait.observe({ model: req.model, class: priorityClass(priority) }, outcome.waitedMs / 1000);
    if (!outcome.ok) {
      if (charge && tenant) await limiter.refundUser(tenant, charge);
      await refundRps();
      return refuse(parts, queueRejection(outcome.reason, req.model, priority), outcome.reason);
    }
    if (signal.aborted) {
      // The client left while we decided: hand everything back rather than a ticket nobody will finish.
      gate.release(req.model, req.id);
      queue.capacityFreed(req.model);
      if (charge && tenant) await limiter.refundUser(tenant, charge);
      await refundRps();
      return refuse(parts, queueRejection("aborted", req.model, priority), "aborted");
    }
    metrics.outcomes.inc({ outcome: "admitted", reason: outcome.waitedMs > 0 ? "queued" : "direct" });
    metrics.decision.observe((now() - started) / 1000);
    return { ok: true, ticket: ticketFor(parts, req, tenant, fairUser, charge) };
  } catch (err) {
    if (err instanceof SharedStateUnavailable) {
      return refuse(parts, rejection(503, "service_unavailable", err.message, { "retry-after": "1" }), "redis-down");
    }
    throw err;
  }
}

function ticketFor(
  parts: FlowParts,
  req: FlowRequest,
  tenant: string | undefined,
  fairUser: string,
  charge: UserCharge | undefined,
): FlowTicket {
  const { queue, limiter, gate } = parts;
  let seen = 0;
  let extraCharged = 0;
  let finished = false;
  const reservedCompletion = charge ? charge.reserved - req.promptTokens : 0;
  const headers: Record<string, string> = {};
  if (charge?.rpmRemaining !== undefined) headers["x-ratelimit-remaining-requests"] = String(charge.rpmRemaining);
  if (charge?.tpmRemaining !== undefined) headers["x-ratelimit-remaining-tokens"] = String(charge.tpmRemaining);
  return {
    user: tenant,
    headers,
    onCompletionTokens(count: number) {
      if (finished || count <= 0) return;
      seen += count;
      queue.chargeOutput(req.model, fairUser, count);
      // Beyond the reservation: charge now, so concurrent streams on other replicas see it.
      if (charge && tenant && charge.tpmBucket >= 0 && seen > reservedCompletion + extraCharged) {
        const delta = seen - reservedCompletion - extraCharged;
        extraCharged += delta;
        void limiter.adjustTokens(tenant, delta, charge.tpmBucket);
      }
    },
    finish(outcome: { status: number; usage?: TokenUsage }) {
      if (finished) return;
      finished = true;
      gate.release(req.model, req.id);
      queue.capacityFreed(req.model);
      const usage = outcome.usage;
      if (usage && usage.completion_tokens > seen)
        queue.chargeOutput(req.model, fairUser, usage.completion_tokens - seen);
      if (!charge || !tenant || charge.tpmBucket < 0) return;
      // Nothing reached the engine: an error before any token costs no tokens.
      const actual = usage
        ? usage.prompt_tokens + usage.completion_tokens
        : outcome.status >= 400 && seen === 0
          ? 0
          : req.promptTokens + seen;
      const charged = charge.reserved + extraCharged;
      const delta = actual - charged;
      if (delta < 0) void limiter.adjustTokens(tenant, delta, charge.tpmBucket);
      else if (delta > 0) void limiter.adjustTokens(tenant, delta, -1);
    },
  };
}

function queueRejection(reason: QueueRefusal, model: string, priority: number) {
  switch (reason) {
    case "shed":
      return rejection(
        429,
        "rate_limit_exceeded",
        `model ${model} is saturated and ${priorityClass(priority)} requests (priority ${priority}) are shed first; retry later`,
        { "retry-after": "1", "x-ratelimit-exceeded": "saturation" },
      );
    case "queue-full":
      return rejection(429, "rate_limit_exceeded", `the queue for model ${model} is full; retry later`, {
        "retry-after": "1",
        "x-ratelimit-exceeded": "queue",
      });
    case "timeout":
      return rejection(
        503,
        "service_unavailable",
        `model ${model} stayed saturated for the whole queue wait; retry later`,
        {
          "retry-after": "1",
        },
      );
    case "aborted":
      return rejection(499, "client_closed_request", "the client went away while the request was queued");
  }
}
