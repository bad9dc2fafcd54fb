// The relay stage: the engine's answer to the client. A buffered body can still fail over to another endpoint
// (nothing was sent yet) and its errors are put in the router's own vocabulary; a stream is relayed chunk by chunk.
import type { TokenUsage } from "../flow-control/control.js";
import type { Endpoint } from "../endpoints/endpoints.js";
import { openAIErrorFrom } from "../forwarding/errors.js";
import { encodeSessionId, sessionAffinity } from "../picking/scorers/session-affinity.js";
import type { UpstreamResponse } from "../forwarding/proxy.js";
import { bodyFailure } from "./failure.js";
import type { Forwarding, RequestPathParts } from "./parts.js";
import type { AttemptOutcome } from "./retry-loop.js";

export interface AttemptTiming {
  /** When the request went to the engine (performance.now()). */
  sent: number;
  attempt: number;
}

export async function relayBuffered(
  p: RequestPathParts,
  f: Forwarding,
  ep: Endpoint,
  result: UpstreamResponse,
  t: AttemptTiming,
): Promise<AttemptOutcome> {
  let buf: Buffer;
  try {
    buf = await result.readAll();
  } catch (err) {
    if (f.cancel.cancelled) return { kind: "client-gone" };
    return { kind: "failed", failure: bodyFailure(ep.id, err as Error) };
  }
  const status = result.status;
  p.metrics.upstreamTtft.observe((performance.now() - t.sent) / 1000, f.model);
  if (status < 500) ep.recordSuccess();
  else p.onEndpointFailure(ep, `status ${status}`);
  // Engine errors in the router's own vocabulary, so clients read one error shape.
  const normalized = status >= 400 ? openAIErrorFrom(status, buf) : undefined;
  if (normalized !== undefined) buf = Buffer.from(normalized);
  const headers = answerHeaders(f, ep, result);
  headers["content-length"] = String(buf.length);
  f.res.writeHead(status, headers);
  f.res.end(buf);
  // Only flow control wants the engine's usage; without a ticket the body is not parsed.
  f.finish(status, f.ticket && status === 200 ? usageOf(buf) : undefined);
  accessLog(p, f, status, ep, t.attempt);
  return { kind: "answered" };
}

export async function relayStream(
  p: RequestPathParts,
  f: Forwarding,
  ep: Endpoint,
  result: UpstreamResponse,
  t: AttemptTiming,
): Promise<AttemptOutcome> {
  const status = result.status;
  f.res.writeHead(status, { ...answerHeaders(f, ep, result), "cache-control": "no-cache" });
  let usage: TokenUsage | undefined;
  const outcome = await result.relay(f.res, {
    onFirstChunk: () => p.metrics.upstreamTtft.observe((performance.now() - t.sent) / 1000, f.model),
    onEvents: (n) => f.ticket?.onCompletionTokens(n),
    onUsage: (u) => (usage = u),
  });
  if (outcome === "ok") ep.recordSuccess();
  else if (outcome === "upstream-failed") {
    p.metrics.streamErrors.inc({ model: f.model });
    p.onEndpointFailure(ep, "failed mid-stream");
  } else f.cancel.cancel();
  f.finish(outcome === "ok" ? status : outcome === "client-gone" ? 499 : 502, usage);
  accessLog(p, f, outcome === "ok" ? status : 502, ep, t.attempt);
  return { kind: "answered" };
}

function answerHeaders(f: Forwarding, ep: Endpoint, result: UpstreamResponse): Record<string, string> {
  const headers: Record<string, string> = {
    ...f.ticket?.headers,
    ...f.baseHeaders,
    "content-type": result.contentType ?? "application/json",
    "target-pod": ep.id,
  };
  if (f.pipeline.scorers.some((s) => s.scorer === sessionAffinity)) headers["x-session-id"] = encodeSessionId(ep.id);
  return headers;
}

const USAGE_KEY = Buffer.from('"usage"');

/**
 * The `usage` of a buffered answer, when it reports one. Only the usage object is parsed, not the whole answer
 * (choices, logprobs): `"usage"` can only occur in JSON text as a key, since a quote inside a string is escaped.
 */
export function usageOf(buf: Buffer): TokenUsage | undefined {
  const key = buf.lastIndexOf(USAGE_KEY);
  if (key === -1) return undefined;
  const span = objectAfter(buf, key + USAGE_KEY.length);
  try {
    const u = (
      span
        ? JSON.parse(buf.toString("utf8", span.start, span.end))
        : (JSON.parse(buf.toString("utf8")) as { usage?: unknown }).usage
    ) as Partial<TokenUsage> | null | undefined;
    if (u && typeof u.completion_tokens === "number")
      return { prompt_tokens: u.prompt_tokens ?? 0, completion_tokens: u.completion_tokens };
  } catch {
    // Not JSON: no usage to report.
  }
  return undefined;
}

/** Bounds of the JSON object that follows `: ` at `from`, or undefined when something else is there. */
function objectAfter(buf: Buffer, from: number): { start: number; end: number } | undefined {
  let i = from;
  while (isSpace(buf[i])) i++;
  if (buf[i] !== 0x3a) return undefined; // ':'
  i++;
  while (isSpace(buf[i])) i++;
  if (buf[i] !== 0x7b) return undefined; // '{'
  const start = i;
  let depth = 0;
  for (; i < buf.length; i++) {
    const b = buf[i]!;
    if (b === 0x22) {
      // A string: skip to its closing quote (an escape skips the byte after it).
      for (i++; i < buf.length && buf[i] !== 0x22; i++) if (buf[i] === 0x5c) i++;
    } else if (b === 0x7b) depth++;
    else if (b === 0x7d && --depth === 0) return { start, end: i + 1 };
  }
  return undefined;
}

function isSpace(b: number | undefined): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function accessLog(p: RequestPathParts, f: Forwarding, status: number, ep: Endpoint, retries: number): void {
  if (p.accessLog === false || !p.log.isLevelEnabled("info")) return;
  const ms = Math.round((performance.now() - f.started) * 100) / 100;
  p.log.info(
    { requestId: f.requestId, model: f.model, status, target: ep.id, strategy: f.pipeline.name, retries, ms },
    "request",
  );
}
