// The pick stage: run the request's picking pipeline over the model's endpoints, minus those already tried; a bad
// external selector is the client's error, no endpoint left is a 503 that says why.
import type { Endpoint } from "../endpoints/endpoints.js";
import { badRequest, type OpenAIError } from "../forwarding/errors.js";
import { SelectorError } from "../picking/filters.js";
import { pick } from "../picking/pick.js";
import type { PickEnv, PickRequest, Pipeline } from "../picking/types.js";

export interface PickAttempt {
  pipeline: Pipeline;
  request: PickRequest;
  pool: readonly Endpoint[];
  env: PickEnv;
  exclude: ReadonlySet<Endpoint>;
  attempt: number;
  /** Summary of the previous attempt's failure (retries only). */
  lastFailure: string;
  /** How long the pipeline took to decide (not called when it refused the request). */
  onDecision(seconds: number): void;
}

export function chooseEndpoint(p: PickAttempt): { endpoint: Endpoint } | { error: OpenAIError } {
  let endpoint: Endpoint | undefined;
  const t0 = performance.now();
  try {
    p.request.attempt = p.attempt;
    endpoint = pick(p.pipeline, p.request, p.pool, p.env, p.exclude).endpoint;
  } catch (err) {
    if (!(err instanceof SelectorError)) throw err;
    return { error: badRequest(err.message, "external-filter", { "x-error-routing": "true" }) };
  }
  p.onDecision((performance.now() - t0) / 1000);
  if (endpoint) return { endpoint };
  return { error: noEndpointLeft(p.attempt, p.request.model, p.request.adapter, p.lastFailure) };
}

function noEndpointLeft(attempt: number, model: string, adapter: string | undefined, lastFailure: string): OpenAIError {
  const why =
    attempt === 0
      ? adapter
        ? `no endpoint has adapter ${adapter} loaded`
        : `no endpoint of model ${model} passed the filters`
      : `every endpoint tried failed (${lastFailure})`;
  return {
    status: 503,
    message: `${why}; retry shortly`,
    code: "service_unavailable",
    headers: { "x-error-routing": "true", "retry-after": "1" },
  };
}
