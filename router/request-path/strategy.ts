// The strategy stage: which picking pipeline serves the request (see profiles/strategy.ts for the precedence), and
// whether the model has anywhere to go at all.
import type { IncomingHttpHeaders } from "node:http";
import type { Endpoint } from "../endpoints/endpoints.js";
import { badRequest, headerValue, type OpenAIError } from "../forwarding/errors.js";
import { StrategyError } from "../picking/pipelines.js";
import type { StrategyChoice, StrategySelector } from "../profiles/strategy.js";

/** The pipeline for the request, or the 400 for a bad `routing-strategy` header. */
export function chooseStrategy(
  strategies: StrategySelector,
  pool: readonly Endpoint[],
  headers: IncomingHttpHeaders,
  path: string,
  body: Record<string, unknown>,
): StrategyChoice | { error: OpenAIError } {
  try {
    return strategies.choose(pool, headers, path, body);
  } catch (err) {
    if (!(err instanceof StrategyError)) throw err;
    return {
      error: badRequest(err.message, "routing-strategy", {
        "x-error-invalid-routing-strategy": headerValue(String(headers["routing-strategy"])),
      }),
    };
  }
}

/**
 * The answer for a model without a ready endpoint: 503 when discovery knows the model (its pods are starting or
 * failing), 404 naming the served models when it does not.
 */
export function noEndpointsFor(model: string, known: boolean, served: readonly string[]): OpenAIError {
  if (known) {
    return {
      status: 503,
      message: `model ${model} has no ready endpoint; retry shortly`,
      code: "service_unavailable",
      headers: { "x-error-no-model-backends": "true", "retry-after": "1" },
    };
  }
  return {
    status: 404,
    message: `model ${model} does not exist; served models: ${served.join(", ") || "(none)"}`,
    code: "model_not_found",
    param: "model",
    headers: { "x-error-no-model-backends": headerValue(model) },
  };
}
