// The request path, stage by stage: parse → strategy → flow control → pick → forward (with retries) → relay. Each stage
// lives in its own module and either hands the request on or says what to answer; this file only strings them
// together and counts every answer once.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenUsage } from "../flow-control/control.js";
import { sendError, type OpenAIError } from "../forwarding/errors.js";
import { EnginePrompt } from "../prompts/engine-prompt.js";
import { boundedText, DEFAULT_CONTEXT_TOKENS, promptCharsFor } from "../prompts/prompt-bounds.js";
import { PromptTokens, promptTextOf } from "../prompts/prompt.js";
import { Cancellation } from "../forwarding/proxy.js";
import { FlowRequestView, PickRequestView } from "../prompts/request-views.js";
import { enterFlowControl } from "./flow-control.js";
import { modelLimit, readLimit, tooLarge, type ModelLimit } from "./body-limits.js";
import { forward } from "./forward.js";
import { serveGet, type GetRoutes } from "./get-routes.js";
import { LARGE_BODY_BYTES, readJsonBody, validateBody } from "./parse.js";
import type { Forwarding, RequestPathParts } from "./parts.js";
import type { RequestIds } from "./routes.js";
import { pathOf, routeRefusal } from "./routes.js";
import { chooseStrategy, noEndpointsFor } from "./strategy.js";

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** A request that passed parsing: what the later stages read. */
interface Parsed {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  requestId: string;
  raw: Buffer;
  body: Record<string, unknown>;
  model: string;
  baseHeaders: Record<string, string>;
}

export function createRequestHandler(p: RequestPathParts, get: GetRoutes, ids: RequestIds): RequestHandler {
  const refuse = (
    res: ServerResponse,
    e: OpenAIError,
    model: string,
    strategy: string,
    headers: Record<string, string>,
  ) => {
    p.metrics.requests.inc(model, String(e.status), strategy);
    sendError(res, e, headers);
  };
  const modelLabel = (model: unknown) => (typeof model === "string" && p.knownModel(model) ? model : "(unknown)");

  return async function handle(req, res) {
    const path = pathOf(req.url);
    if ((req.method === "GET" || req.method === "HEAD") && (await serveGet(get, path, res))) return;
    const requestId = ids.of(req.headers["x-request-id"]);
    const baseHeaders: Record<string, string> = { "x-request-id": requestId, "request-id": requestId };
    const refusal = routeRefusal(req.method, path) ?? keyRefusal(p, req.headers.authorization);
    if (refusal) return refuse(res, refusal, "(unknown)", "", baseHeaders);
    const parsed = await readJsonBody(req, readLimit(p.registry.all(), p.maxBodyBytes), p.largeSteps);
    if ("error" in parsed) return refuse(res, parsed.error, "(unknown)", "", baseHeaders);
    const invalid = validateBody(path, parsed.body);
    if (invalid) return refuse(res, invalid, modelLabel(parsed.body.model), "", baseHeaders);
    const model = parsed.body.model as string;
    await route(p, { req, res, path, requestId, ...parsed, model, baseHeaders }, refuse, modelLabel(model));
  };
}

type Refuse = (res: ServerResponse, e: OpenAIError, model: string, strategy: string, h: Record<string, string>) => void;

/** Strategy, the model's endpoints and limits, flowControl, then the engines. */
async function route(p: RequestPathParts, r: Parsed, refuse: Refuse, modelLabel: string): Promise<void> {
  const { res, model, baseHeaders } = r;
  const pool = p.registry.serving(model);
  const choice = chooseStrategy(p.strategies, pool, r.req.headers, r.path, r.body);
  if ("error" in choice) return refuse(res, choice.error, modelLabel, "", baseHeaders);
  const pipeline = choice.pipeline;
  if (choice.configProfile !== undefined) baseHeaders["x-aibrix-config-profile"] = choice.configProfile;
  if (choice.requestsPerSecond !== undefined && p.flowControl.passesAll) p.warnUnenforcedRps(model);
  baseHeaders["routing-strategy"] = pipeline.name;
  if (pool.length === 0) {
    const e = noEndpointsFor(model, p.knownModel(model), p.registry.models());
    return refuse(res, e, modelLabel, pipeline.name, baseHeaders);
  }
  const limit = modelLimit(pool, p.maxBodyBytes);
  const large = tooLarge(r.raw.length, model, limit);
  if (large) return refuse(res, large, model, pipeline.name, baseHeaders);
  const { prompt, pickRequest } = await promptViews(p, r, limit);
  const cancel = new Cancellation();
  const flowView = () =>
    new FlowRequestView(r.requestId, model, r.req.headers, r.body, choice.requestsPerSecond, prompt);
  const entered = await enterFlowControl(p.flowControl, flowView, res, cancel);
  if ("error" in entered) return refuse(res, entered.error, model, pipeline.name, baseHeaders);
  if ("clientGone" in entered) return;
  const ticket = entered.ticket;
  let finished = false;
  const f: Forwarding = {
    requestId: r.requestId,
    model,
    path: r.path,
    raw: r.raw,
    stream: r.body.stream === true,
    pipeline,
    pickRequest,
    pool,
    res,
    cancel,
    ticket,
    baseHeaders,
    upstreamHeaders: upstreamHeaders(p, r),
    started: performance.now(),
    finish: (status: number, usage?: TokenUsage) => {
      if (finished) return;
      finished = true;
      ticket?.finish({ status, usage });
      p.metrics.requests.inc(model, String(status), pipeline.name);
    },
  };
  const end = await forward(p, f);
  if (end.kind === "client-gone") return f.finish(499);
  if (end.kind === "refused") {
    f.finish(end.error.status);
    sendError(res, end.error, baseHeaders);
  }
}

function keyRefusal(p: RequestPathParts, authorization: string | undefined): OpenAIError | undefined {
  const refusal = p.apiKeys?.refusal(authorization);
  if (!refusal) return undefined;
  return { status: 401, message: refusal, code: "invalid_api_key", headers: { connection: "close" } };
}

/** What picking and flow control read of the prompt; tokenized lazily, and only as far as the context goes. */
async function promptViews(
  p: RequestPathParts,
  r: Parsed,
  limit: ModelLimit,
): Promise<{ prompt: PromptTokens; pickRequest: PickRequestView }> {
  const { model, path, body } = r;
  const adapter = p.registry.adapterParent.has(model) ? model : undefined;
  // A prompt longer than the context is refused by the engine anyway: tokenize and hash only what fits.
  const maxChars = promptCharsFor(limit.context ?? DEFAULT_CONTEXT_TOKENS);
  const prompt = new PromptTokens(() => boundedText(promptTextOf(path, body), maxChars), adapter, p.promptCache);
  if (r.raw.length > LARGE_BODY_BYTES) await p.largeSteps.turn();
  const tokenizer = p.tokenizers.get(adapter ? p.registry.adapterParent.get(model)! : model);
  const enginePrompt = tokenizer
    ? new EnginePrompt(tokenizer, path, body, p.prefixHashSeed, p.blockKeyCache, (err) =>
        p.log.debug({ model, err: err.message }, "prompt not reproducible with the model's tokenizer"),
      )
    : undefined;
  return { prompt, pickRequest: new PickRequestView(model, adapter, r.req.headers, prompt, enginePrompt) };
}

function upstreamHeaders(p: RequestPathParts, r: Parsed): Record<string, string> {
  const headers: Record<string, string> = { "content-type": "application/json", "x-request-id": r.requestId };
  const tp = r.req.headers.traceparent;
  if (typeof tp === "string") headers.traceparent = tp;
  if (p.upstream.apiKey) headers.authorization = `Bearer ${p.upstream.apiKey}`;
  else if (p.upstream.forwardAuthorization && r.req.headers.authorization)
    headers.authorization = r.req.headers.authorization;
  return headers;
}
