// The forward stage: one attempt on one endpoint (a cold-prefix wait where it applies, the request, the engine's
// headers), handed to the relay stage once the engine answers; the retry loop runs as many as the policy allows.
import type { Endpoint } from "../endpoints/endpoints.js";
import { defaultPrefixScorerOptions, engineKeysFor } from "../picking/scorers/prefix-affinity.js";
import type { PhaseTimeouts } from "../forwarding/proxy.js";
import { chooseEndpoint } from "./choose-endpoint.js";
import { statusFailure, transportFailure } from "./failure.js";
import type { Forwarding, RequestPathParts } from "./parts.js";
import { relayBuffered, relayStream } from "./relay.js";
import { runWithRetries, type AttemptOutcome, type LoopEnd } from "./retry-loop.js";

export function forward(p: RequestPathParts, f: Forwarding): Promise<LoopEnd> {
  const timeouts = f.stream ? { ...p.timeouts, firstByteMs: p.timeouts.streamFirstByteMs } : p.timeouts;
  p.budget.onRequest();
  return runWithRetries<Endpoint>({
    pool: f.pool,
    policy: p.retry,
    budget: p.budget,
    cancelled: () => f.cancel.cancelled,
    pick: (attempt, exclude, lastFailure) =>
      chooseEndpoint({
        pipeline: f.pipeline,
        request: f.pickRequest,
        pool: f.pool,
        env: { now: Date.now(), staleAfterMs: p.staleAfterMs, registry: p.registry, timing: p.pluginTiming },
        exclude,
        attempt,
        lastFailure,
        onDecision: (s) => p.metrics.decisionSeconds.observe(s, f.pipeline.name),
      }),
    attempt: (ep, attempt, mayRetry) => attemptOn(p, f, timeouts, ep, attempt, mayRetry),
    acquire: (ep) => ep.inFlight++,
    release: (ep) => {
      ep.inFlight--;
      f.prefill?.leave();
      f.prefill = undefined;
    },
    onFailure: (ep, failure) => p.onEndpointFailure(ep, failure.detail),
    onRetry: (failure) => p.metrics.retries.inc({ model: f.model, reason: failure.reason }),
  });
}

async function attemptOn(
  p: RequestPathParts,
  f: Forwarding,
  timeouts: PhaseTimeouts,
  ep: Endpoint,
  attempt: number,
  mayRetry: () => boolean,
): Promise<AttemptOutcome> {
  if (!(await waitForColdPrefix(p, f, ep))) return { kind: "client-gone" };
  const sent = performance.now();
  const result = await p.send(ep, f.path, f.upstreamHeaders, f.raw, f.cancel, timeouts);
  if (result.kind === "failed") {
    if (result.reason === "aborted") return { kind: "client-gone" };
    return { kind: "failed", failure: transportFailure(ep.id, result.reason, result.error) };
  }
  const serverError = statusFailure(ep.id, result.status);
  if (serverError && mayRetry()) {
    await result.dump();
    return { kind: "retry", failure: serverError };
  }
  const relay = (result.contentType ?? "application/json").startsWith("text/event-stream")
    ? relayStream
    : relayBuffered;
  return relay(p, f, ep, result, { sent, attempt });
}

/**
 * With kv-prefix, a request whose long prefix `ep` is computing for another request right now waits (bounded) for
 * the blocks to be stored. Only the engine's own block keys can be waited for: without them its KV events never
 * name this prompt. False when the client went away meanwhile.
 */
async function waitForColdPrefix(p: RequestPathParts, f: Forwarding, ep: Endpoint): Promise<boolean> {
  const engineKeys =
    p.coalescing.maxWaitMs > 0 && ep.spec.kvEvents && f.pipeline.scorers.some((s) => s.scorer.name === "kv-prefix")
      ? engineKeysFor(f.pickRequest, [ep], defaultPrefixScorerOptions)
      : undefined;
  const prefill = engineKeys ? p.prefills.enter(ep.id, engineKeys) : undefined;
  if (!prefill) return true;
  f.prefill = prefill;
  f.res.once("close", prefill.leave);
  if (prefill.wait) p.metrics.prefillWaits.inc({ outcome: await prefill.wait });
  return !f.cancel.cancelled;
}
