// OpenAI-shaped refusals with the headers clients and operators look for: `Retry-After`, `x-ratelimit-*` (which
// limit was hit, its size, what remains, when it resets) and the AIBrix `x-error-*` diagnostics.
import type { FlowRejection } from "./control.js";
import type { LimitHit } from "./limits/limiter.js";
import { errorType } from "../../serving/errors.js";

export function rejection(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  param: string | null = null,
): FlowRejection {
  return { status, headers, error: { message, type: errorType(status), code, param } };
}

const HEADER_UNIT: Record<LimitHit["limit"], string> = { rpm: "requests", tpm: "tokens", "model-rps": "model-rps" };
const AIBRIX_FLAG: Record<LimitHit["limit"], string> = {
  rpm: "x-error-rpm-exceeded",
  tpm: "x-error-tpm-exceeded",
  "model-rps": "x-error-model-rps-exceeded",
};

export function limitRejection(hit: LimitHit, subject: string, windowMs: number): FlowRejection {
  const retrySec = Math.max(1, Math.ceil(hit.retryAfterMs / 1000));
  const unit = HEADER_UNIT[hit.limit];
  const what =
    hit.limit === "rpm"
      ? `requests per ${windowMs / 1000}s`
      : hit.limit === "tpm"
        ? `tokens per ${windowMs / 1000}s`
        : "requests per second";
  const message =
    hit.limit === "model-rps"
      ? `rate limit exceeded for model ${subject}: ${hit.max} ${what}; retry after ${retrySec}s`
      : `rate limit exceeded for user ${subject}: ${hit.limit} limit is ${hit.max} ${what}, ${hit.used} used; retry after ${retrySec}s`;
  if (hit.needed !== undefined) {
    return rejection(
      429,
      "rate_limit_exceeded",
      `request needs ${hit.needed} tokens (prompt + max_tokens), more than user ${subject}'s tpm limit of ${hit.max} ${what}; lower max_tokens or raise the limit`,
      { "x-ratelimit-exceeded": "tpm", "x-ratelimit-limit-tokens": String(hit.max), "x-error-tpm-exceeded": "true" },
      "max_tokens",
    );
  }
  return rejection(429, "rate_limit_exceeded", message, {
    "retry-after": String(retrySec),
    "x-ratelimit-exceeded": hit.limit,
    [`x-ratelimit-limit-${unit}`]: String(hit.max),
    [`x-ratelimit-remaining-${unit}`]: String(Math.max(0, hit.max - hit.used)),
    [`x-ratelimit-reset-${unit}`]: `${(hit.retryAfterMs / 1000).toFixed(3)}s`,
    [AIBRIX_FLAG[hit.limit]]: "true",
  });
}
