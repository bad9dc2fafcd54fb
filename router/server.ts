// The OpenAI-compatible HTTP front: parse once, admit, pick, proxy (with retries before the first byte), relay.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pino, type Logger } from "pino";
import { KvEventSubscriber } from "../engines/kv-events.js";
import { admitAll, type AdmissionControl, type TokenUsage } from "./admission.js";
import type { Discovery, DiscoverySnapshot } from "./discovery/types.js";
import { defaultEjection, EndpointRegistry, type EjectionPolicy, type Endpoint, type FleetView } from "./endpoints.js";
import { readBody, parseJsonObject } from "../serving/body.js";
import { HttpError } from "../serving/errors.js";
import { createServer, listen, shutdown, type ServerLimits } from "../serving/http-server.js";
import { badRequest, headerValue, openAIErrorFrom, sendError, type OpenAIError } from "./errors.js";
import { RouterMetrics } from "./metrics.js";
import { KvBlockIndex } from "./picking/kv-index.js";
import { pick } from "./picking/pick.js";
import { PrefixIndex, defaultPrefixIndexOptions } from "./picking/prefix-index.js";
import { PrefixSync } from "./picking/prefix-sync.js";
import { createSharedScorers } from "./picking/shared-scorers.js";
import { ProfileCatalog, StrategyError, type ProfileConfig } from "./picking/profiles.js";
import { SelectorError } from "./picking/filters.js";
import {
  defaultPrefixScorerOptions,
  encodeSessionId,
  engineKeysFor,
  sessionAffinity,
  type PrefixScorerOptions,
} from "./picking/scorers.js";
import type { PickEnv, Profile } from "./picking/types.js";
import { EnginePrompt } from "./engine-prompt.js";
import { PromptTokens, promptTextOf } from "./prompt.js";
import { loadModelTokenizers } from "./tokenizers.js";
import { boundedText, contextBodyBytes, DEFAULT_CONTEXT_TOKENS, promptCharsFor } from "./prompt-bounds.js";
import { PromptCache } from "./prompt-cache.js";
import { defaultPrefillCoalescing, PrefillCoalescer, type PrefillCoalescingOptions } from "./prefill-coalescing.js";
import { AdmissionRequestView, PickRequestView } from "./request-views.js";
import { StrategySelector } from "./profiles/strategy.js";
import { Cancellation, defaultTimeouts, EndpointUnhealthy, sendUpstream, type PhaseTimeouts } from "./proxy.js";
import { MetricsScraper } from "./scraper.js";
import { Turns } from "./turns.js";
import type { StaticKeys } from "./auth/static-keys.js";
import { defaultHealthCheck, HealthChecker, type HealthCheckPolicy } from "./health-check.js";

export interface RetryPolicy {
  /** Extra attempts on other endpoints after a failure before the first byte. */
  maxRetries: number;
  /** Retries allowed as a share of requests (a retry storm cannot multiply load). */
  budgetRatio: number;
  /** Retries always allowed per second regardless of the ratio. */
  minPerSecond: number;
}

export interface RouterOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  discovery: Discovery;
  admission?: AdmissionControl;
  /** Strategy used when a request names none (a name, a weighted list, or a profile name). */
  defaultStrategy?: string;
  /** Named profiles (filters → weighted scorers → picker). */
  profiles?: Record<string, ProfileConfig>;
  prefix?: Partial<PrefixScorerOptions>;
  /**
   * Model name → directory of its tokenizer files (tokenizer.json, tokenizer_config.json; a mounted ConfigMap
   * works). kv-prefix names an engine's blocks with them; a model without one is routed like prefix-cache.
   */
  tokenizers?: Record<string, string>;
  /** The engines' PYTHONHASHSEED, when they are started with one (it seeds vLLM's block hashes). */
  prefixHashSeed?: string;
  /**
   * With the kv-prefix scorer: a request sent to an engine that is computing the request's long prefix for another
   * request waits (bounded) for the engine to report those blocks stored. `maxWaitMs: 0` turns it off.
   */
  prefillCoalescing?: Partial<PrefillCoalescingOptions>;
  /** Share the approximate prefix index with every router replica through Redis pub/sub. */
  prefixSync?: { redisUrl: string };
  /** Share vtc-basic's per-user token window and power-of-two's in-flight counts between replicas through Redis. */
  sharedPicking?: { redisUrl: string };
  /** Engine `/metrics` poll interval (ms) while something routes on the endpoint's metrics. */
  scrapeIntervalMs?: number;
  /** Poll interval (ms) while nothing has read them for a minute (default 1000; at least `scrapeIntervalMs`). */
  idleScrapeIntervalMs?: number;
  /** Metrics older than this do not win picks (default 3 × interval, at least 200 ms). */
  staleAfterMs?: number;
  /** Engine `/v1/models` poll interval for adapter residency (ms). */
  modelsRefreshMs?: number;
  timeouts?: Partial<PhaseTimeouts>;
  retry?: Partial<RetryPolicy>;
  ejection?: Partial<EjectionPolicy>;
  /**
   * Request bodies larger than this get 413 (default 16 MiB). Once an engine reports its context length
   * (`max_model_len`), a model's bodies are held to what that context can use (see `contextBodyBytes`).
   */
  maxBodyBytes?: number;
  /** Connection, deadline and keep-alive limits of the HTTP server. */
  limits?: Partial<ServerLimits>;
  /** Active health checks: `GET /health` on every endpoint; `failures` in a row take it out until one succeeds. */
  healthCheck?: Partial<HealthCheckPolicy>;
  connectionsPerEndpoint?: number;
  /** Bearer key sent to engines instead of the client's own Authorization. */
  upstreamApiKey?: string;
  /**
   * Forward the client's `Authorization` to engines when no `upstreamApiKey` is set, as AIBrix's gateway does (engines
   * started with `--api-key` check it). Default: on without admission control, off with it (a router API key must
   * not reach engines).
   */
  forwardAuthorization?: boolean;
  /** Gateway API keys: every request must present one as `Authorization: Bearer <key>`, else 401. */
  apiKeys?: StaticKeys;
  logger?: Logger;
  logLevel?: string;
  /** One JSON line per request at info level. */
  accessLog?: boolean;
}

export interface Router {
  url: string;
  host: string;
  port: number;
  /** Read-only per-model fleet state (queue depth, KV usage, in-flight) for admission control. */
  fleet: FleetView;
  registry: EndpointRegistry;
  metrics: RouterMetrics;
  catalog: ProfileCatalog;
  kvIndex: KvBlockIndex;
  prefills: PrefillCoalescer;
  /** Scrape every endpoint now (tests; the loop does this on its own). */
  scrapeNow(): Promise<void>;
  close(): Promise<void>;
}

const JSON_PATHS = new Set([
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/embeddings",
  "/v1/responses",
  "/v1/messages",
  "/v1/rerank",
  "/v1/classify",
  "/v1/images/generations",
  "/generate",
]);

/** Bodies past this size are processed in steps that yield to the event loop. */
const LARGE_BODY_BYTES = 256 * 1024;

const GET_PATHS = new Set(["/v1/models", "/health", "/healthz", "/readyz", "/metrics"]);

class RetryBudget {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly p: RetryPolicy) {
    this.tokens = p.minPerSecond;
  }
  onRequest(): void {
    this.tokens = Math.min(this.tokens + this.p.budgetRatio, 1000);
  }
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.tokens + ((now - this.last) / 1000) * this.p.minPerSecond, 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export async function startRouter(options: RouterOptions): Promise<Router> {
  const log = options.logger ?? pino({ level: options.logLevel ?? "info", base: { component: "router" } });
  const admission = options.admission ?? admitAll;
  const scrapeIntervalMs = options.scrapeIntervalMs ?? 100;
  const staleAfterMs = options.staleAfterMs ?? Math.max(200, 3 * scrapeIntervalMs);
  const timeouts: PhaseTimeouts = { ...defaultTimeouts, ...options.timeouts };
  const retry: RetryPolicy = { maxRetries: 2, budgetRatio: 0.2, minPerSecond: 10, ...options.retry };
  const ejection: EjectionPolicy = { ...defaultEjection, ...options.ejection };
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const forwardAuthorization = options.forwardAuthorization ?? options.admission === undefined;
  const metrics = new RouterMetrics();
  const prefixIndex = new PrefixIndex(defaultPrefixIndexOptions);
  const prefixSync = options.prefixSync
    ? new PrefixSync(prefixIndex, {
        redisUrl: options.prefixSync.redisUrl,
        onError: (err) => log.warn({ err: err.message }, "prefix index sharing paused; serving with the local index"),
      })
    : undefined;
  const kvIndex = new KvBlockIndex();
  const tokenizers = await loadModelTokenizers(options.tokenizers ?? {}, log);
  const coalescing = { ...defaultPrefillCoalescing, ...options.prefillCoalescing };
  const prefills = new PrefillCoalescer(kvIndex, coalescing);
  // Long shared prompt prefixes (system prompts, earlier turns) are tokenized and hashed once, not per request.
  const promptCache = new PromptCache();
  const largeSteps = new Turns();
  const shared = createSharedScorers({
    redisUrl: options.sharedPicking?.redisUrl,
    localInFlight: () => registry.all().map((ep) => [ep.id, ep.inFlight] as const),
    onError: (what, err) => log.warn({ err: err.message }, `${what} sharing paused; serving with local state`),
  });
  const catalog = new ProfileCatalog(
    prefixIndex,
    kvIndex,
    { ...defaultPrefixScorerOptions, ...options.prefix },
    options.profiles,
    shared.scorers,
    (model) =>
      log.warn(
        { model },
        "kv-prefix cannot name this model's KV blocks (no tokenizer configured, an adapter path the engines have " +
          "not reported, or a hash algorithm seeded per process): routing it like prefix-cache",
      ),
  );
  const defaultProfile = catalog.resolve(options.defaultStrategy ?? "least-request");
  const strategies = new StrategySelector(catalog, defaultProfile, (m) => log.warn(m));
  const unenforcedRps = new Set<string>();
  const warnUnenforcedRps = (model: string) => {
    if (unenforcedRps.has(model) || unenforcedRps.size > 1000) return;
    unenforcedRps.add(model);
    log.warn(
      { model },
      "a config profile of this model sets requestsPerSecond, but the router runs without admission control: " +
        "start it with --admission-config or --redis-url to enforce the limit",
    );
  };
  const subscribers = new Map<string, KvEventSubscriber>();
  metrics.observeKvIndex(() => [...subscribers.keys()].map((id): [string, number] => [id, kvIndex.blocks(id)]));
  const registry = new EndpointRegistry(
    { connections: options.connectionsPerEndpoint ?? 256, connectTimeoutMs: timeouts.connectMs },
    staleAfterMs,
    (ep) => {
      subscribers.get(ep.id)?.close();
      subscribers.delete(ep.id);
      kvIndex.forget(ep.id);
      metrics.forgetKvEndpoint(ep.id);
      prefills.forget(ep.id);
      prefixIndex.forget(ep.id);
    },
    (ep) => {
      const kv = ep.spec.kvEvents;
      if (!kv) return;
      const batches = metrics.kvEventBatches.labels(ep.id);
      const sub = new KvEventSubscriber({
        endpoint: kv.endpoint,
        replayEndpoint: kv.replayEndpoint,
        topic: kv.topic,
        onBatch: (b) => {
          batches.inc();
          kvIndex.apply(ep.id, b);
          prefills.onBatch(ep.id, b);
        },
        onGap: (missing) => {
          metrics.kvEventGaps.inc({ endpoint: ep.id });
          log.warn({ endpoint: ep.id, missing: Number(missing), replay: Boolean(kv.replayEndpoint) }, "kv event gap");
        },
        onRestart: () => {
          kvIndex.forget(ep.id);
          log.info({ endpoint: ep.id }, "kv event sequence restarted (engine restart): its blocks are forgotten");
        },
        onError: (err) => log.warn({ endpoint: ep.id, err: err.message }, "kv event stream error"),
      });
      sub.start();
      subscribers.set(ep.id, sub);
    },
  );
  const scraper = new MetricsScraper(
    registry,
    {
      intervalMs: scrapeIntervalMs,
      idleIntervalMs: options.idleScrapeIntervalMs ?? Math.max(1000, scrapeIntervalMs),
      modelsIntervalMs: options.modelsRefreshMs ?? 2000,
      timeoutMs: Math.max(500, 5 * scrapeIntervalMs),
    },
    () => registry.reindex(),
  );
  const health = new HealthChecker(registry, { ...defaultHealthCheck, ...options.healthCheck }, (ep, healthy) => {
    registry.reindex();
    if (healthy) return log.info({ endpoint: ep.id }, "endpoint passes health checks again");
    log.warn(
      { endpoint: ep.id, failures: ep.healthFailures, retried: ep.awaitingHeaders.size },
      "endpoint failed health checks; taken out, its requests without an answer yet retried elsewhere",
    );
    // Requests waiting on a hung engine would wait out the first-byte timeout: end them now, to be retried.
    for (const abort of [...ep.awaitingHeaders]) abort(new EndpointUnhealthy(ep.id));
    ep.awaitingHeaders.clear();
  });
  const budget = new RetryBudget(retry);
  let knownModels = new Set<string>();
  let synced = false;
  const startedAt = Math.floor(Date.now() / 1000);
  const idPrefix = randomBytes(4).toString("hex");
  let idCounter = 0;
  const sweepTimer = setInterval(() => prefixIndex.sweep(Date.now()), 10_000);
  sweepTimer.unref();

  const env = (): PickEnv => ({ now: Date.now(), staleAfterMs, registry });

  function onSnapshot(s: DiscoverySnapshot): void {
    registry.update(s.endpoints);
    knownModels = new Set([...s.models, ...registry.models()]);
    synced = true;
    log.info({ endpoints: s.endpoints.length, models: registry.models() }, "endpoints updated");
  }

  function modelCard(id: string): Record<string, unknown> {
    const parent = registry.adapterParent.get(id);
    const card: Record<string, unknown> = {
      id,
      object: "model",
      created: startedAt,
      owned_by: "aibrix-ts",
      root: id,
      parent: parent ?? null,
    };
    const context = modelLimit(registry.serving(id)).context;
    if (context !== undefined) card.max_model_len = context;
    return card;
  }

  function servedModels(): string[] {
    const now = Date.now();
    return registry.models().filter((m) => registry.serving(m).some((ep) => !ep.isEjected(now)));
  }

  function sendJson(res: ServerResponse, value: unknown): void {
    const body = JSON.stringify(value);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  function listModels(res: ServerResponse): void {
    sendJson(res, { object: "list", data: servedModels().map(modelCard) });
  }

  /** `GET /v1/models/{id}` as OpenAI answers it: the card, or 404 `model_not_found`. */
  function retrieveModel(res: ServerResponse, encoded: string): void {
    let id: string;
    try {
      id = decodeURIComponent(encoded);
    } catch {
      id = encoded;
    }
    if (servedModels().includes(id)) return sendJson(res, modelCard(id));
    sendError(res, {
      status: 404,
      message: `model ${id} does not exist; GET /v1/models lists the served models`,
      code: "model_not_found",
      param: "model",
    });
  }

  function validate(path: string, body: Record<string, unknown>): OpenAIError | undefined {
    if (typeof body.model !== "string" || body.model === "") {
      return badRequest('model is required: set "model" to one of the names GET /v1/models lists', "model", {
        "x-error-no-model-in-request": "true",
      });
    }
    if (body.stream !== undefined && typeof body.stream !== "boolean") {
      return badRequest(`stream must be a boolean, got ${JSON.stringify(body.stream)}`, "stream", {
        "x-error-stream": "true",
      });
    }
    if (path === "/v1/chat/completions" && (!Array.isArray(body.messages) || body.messages.length === 0)) {
      return badRequest("messages is required for chat completions: a non-empty array of {role, content}", "messages", {
        "x-error-request-body-processing": "true",
      });
    }
    if (path === "/v1/embeddings") {
      const input = body.input;
      const ok = (typeof input === "string" && input !== "") || (Array.isArray(input) && input.length > 0);
      if (!ok) return badRequest("input is required for embeddings: a non-empty string or array", "input");
      if (body.stream !== undefined) return badRequest("stream is not allowed for embeddings; remove it", "stream");
    }
    if (path === "/v1/rerank") {
      if (typeof body.query !== "string") return badRequest("query is required for rerank: a string", "query");
      if (!Array.isArray(body.documents) || body.documents.length === 0) {
        return badRequest("documents is required for rerank: a non-empty array", "documents");
      }
    }
    return undefined;
  }

  /** Largest body any model may take: bounded by the context lengths engines report, when all of them do. */
  function readLimit(): number {
    let limit = 0;
    for (const ep of registry.all()) {
      const len = ep.maxModelLen;
      if (len === undefined) return maxBodyBytes;
      limit = Math.max(limit, contextBodyBytes(len));
    }
    return limit === 0 ? maxBodyBytes : Math.min(limit, maxBodyBytes);
  }

  /** Largest body `model` may take, and the context length behind it (undefined: not reported). */
  function modelLimit(pool: readonly Endpoint[]): { bytes: number; context?: number } {
    let context = 0;
    for (const ep of pool) {
      if (ep.maxModelLen === undefined) return { bytes: maxBodyBytes };
      context = Math.max(context, ep.maxModelLen);
    }
    if (context === 0) return { bytes: maxBodyBytes };
    return { bytes: Math.min(maxBodyBytes, contextBodyBytes(context)), context };
  }

  function modelLabel(model: unknown): string {
    return typeof model === "string" && knownModels.has(model) ? model : "(unknown)";
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    if (req.method === "GET" || req.method === "HEAD") {
      if (path === "/v1/models") return listModels(res);
      if (path.startsWith("/v1/models/")) return retrieveModel(res, path.slice("/v1/models/".length));
      if (path === "/healthz" || path === "/health") {
        return void res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      }
      if (path === "/readyz") {
        return void res
          .writeHead(synced ? 200 : 503, { "content-type": "text/plain" })
          .end(synced ? `ready: ${registry.all().length} endpoints` : "discovery has not synced yet");
      }
      if (path === "/metrics") {
        const text = await metrics.registry.metrics();
        return void res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text);
      }
    }
    const rawId = req.headers["x-request-id"];
    const requestId =
      typeof rawId === "string" && rawId.length > 0 && rawId.length <= 128
        ? rawId
        : `${idPrefix}-${(++idCounter).toString(36)}`;
    const baseHeaders: Record<string, string> = { "x-request-id": requestId, "request-id": requestId };
    if (req.method !== "POST" || !JSON_PATHS.has(path)) {
      const known = JSON_PATHS.has(path) || GET_PATHS.has(path) || path.startsWith("/v1/models/");
      const status = known ? 405 : 404;
      metrics.requests.inc("(unknown)", String(status), "");
      const allow = JSON_PATHS.has(path) ? "POST" : "GET";
      return sendError(
        res,
        known
          ? {
              status,
              message: `${req.method} is not allowed on ${path}; use ${allow}`,
              code: "method_not_allowed",
              headers: { allow, connection: "close" },
            }
          : {
              status,
              message: `no route ${path}; the router serves POST ${[...JSON_PATHS].join(", ")} and GET /v1/models`,
              code: "not_found",
              headers: { connection: "close" },
            },
        baseHeaders,
      );
    }
    const keyRefusal = options.apiKeys?.refusal(req.headers.authorization);
    if (keyRefusal) {
      metrics.requests.inc("(unknown)", "401", "");
      return sendError(
        res,
        { status: 401, message: keyRefusal, code: "invalid_api_key", headers: { connection: "close" } },
        baseHeaders,
      );
    }
    let body: Record<string, unknown>;
    let raw: Buffer;
    try {
      raw = await readBody(req, readLimit());
      // Large bodies: parse, then analyse the prompt, each in a turn of the event loop of its own, so other
      // requests are answered between the steps rather than after all of them.
      if (raw.length > LARGE_BODY_BYTES) await largeSteps.turn();
      body = parseJsonObject(raw);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      metrics.requests.inc("(unknown)", String(err.status), "");
      return err.send(res, baseHeaders);
    }
    const invalid = validate(path, body);
    if (invalid) {
      metrics.requests.inc(modelLabel(body.model), "400", "");
      return sendError(res, invalid, baseHeaders);
    }
    const model = body.model as string;

    // Strategy: the model's locked one, else the header, else its config profile's, else the configured default.
    const pool = registry.serving(model);
    let profile: Profile;
    let profileRps: number | undefined;
    try {
      const choice = strategies.choose(pool, req.headers, path, body);
      profile = choice.profile;
      profileRps = choice.requestsPerSecond;
      if (choice.configProfile !== undefined) baseHeaders["x-aibrix-config-profile"] = choice.configProfile;
      if (profileRps !== undefined && admission === admitAll) warnUnenforcedRps(model);
    } catch (err) {
      if (!(err instanceof StrategyError)) throw err;
      metrics.requests.inc(modelLabel(model), "400", "");
      return sendError(
        res,
        badRequest(err.message, "routing-strategy", {
          "x-error-invalid-routing-strategy": headerValue(String(req.headers["routing-strategy"])),
        }),
        baseHeaders,
      );
    }
    baseHeaders["routing-strategy"] = profile.name;

    if (pool.length === 0) {
      metrics.requests.inc(modelLabel(model), knownModels.has(model) ? "503" : "404", profile.name);
      if (knownModels.has(model)) {
        return sendError(
          res,
          {
            status: 503,
            message: `model ${model} has no ready endpoint; retry shortly`,
            code: "service_unavailable",
            headers: { "x-error-no-model-backends": "true", "retry-after": "1" },
          },
          baseHeaders,
        );
      }
      const served = registry.models();
      return sendError(
        res,
        {
          status: 404,
          message: `model ${model} does not exist; served models: ${served.join(", ") || "(none)"}`,
          code: "model_not_found",
          param: "model",
          headers: { "x-error-no-model-backends": headerValue(model) },
        },
        baseHeaders,
      );
    }
    const limit = modelLimit(pool);
    if (raw.length > limit.bytes) {
      metrics.requests.inc(model, "413", profile.name);
      return sendError(
        res,
        {
          status: 413,
          message:
            `request body is ${raw.length} bytes; model ${model} takes at most ${limit.bytes} bytes` +
            (limit.context ? ` (its context is ${limit.context} tokens)` : "") +
            "; send a shorter prompt",
          code: "request_too_large",
          param: null,
          headers: { connection: "close" },
        },
        baseHeaders,
      );
    }
    const adapter = registry.adapterParent.has(model) ? model : undefined;
    // A prompt longer than the context is refused by the engine anyway: tokenize and hash only what fits.
    const maxChars = promptCharsFor(limit.context ?? DEFAULT_CONTEXT_TOKENS);
    const prompt = new PromptTokens(() => boundedText(promptTextOf(path, body), maxChars), adapter, promptCache);
    if (raw.length > LARGE_BODY_BYTES) await largeSteps.turn();
    const tokenizer = tokenizers.get(adapter ? registry.adapterParent.get(model)! : model);
    const enginePrompt = tokenizer
      ? new EnginePrompt(tokenizer, path, body, options.prefixHashSeed, (err) =>
          log.debug({ model, err: err.message }, "prompt not reproducible with the model's tokenizer"),
        )
      : undefined;
    const pickReq = new PickRequestView(model, adapter, req.headers, prompt, enginePrompt);

    // Admission (auth, limits, fair queue). The client going away aborts both the wait and the upstream request.
    // An AbortController (slow to make and to listen on) only when an admission control needs a signal.
    const cancel = new Cancellation();
    const admissionAbort = admission === admitAll ? undefined : new AbortController();
    const onClientClose = () => {
      if (res.writableFinished) return;
      cancel.cancel();
      admissionAbort?.abort();
    };
    res.on("close", onClientClose);
    const decision =
      admission === admitAll
        ? undefined
        : await admission.admit(
            new AdmissionRequestView(requestId, model, req.headers, body, profileRps, prompt),
            admissionAbort!.signal,
          );
    if (decision && !decision.ok) {
      const r = decision.rejection;
      metrics.requests.inc(model, String(r.status), profile.name);
      return sendError(
        res,
        {
          status: r.status,
          message: r.error.message,
          code: r.error.code,
          param: r.error.param ?? null,
          headers: r.headers,
        },
        baseHeaders,
      );
    }
    if (cancel.cancelled) return;
    const ticket = decision?.ticket;
    let finished = false;
    const finish = (status: number, usage?: TokenUsage) => {
      if (finished) return;
      finished = true;
      ticket?.finish({ status, usage });
      metrics.requests.inc(model, String(status), profile.name);
    };

    const upstreamHeaders: Record<string, string> = { "content-type": "application/json", "x-request-id": requestId };
    const tp = req.headers.traceparent;
    if (typeof tp === "string") upstreamHeaders.traceparent = tp;
    if (options.upstreamApiKey) upstreamHeaders.authorization = `Bearer ${options.upstreamApiKey}`;
    else if (forwardAuthorization && req.headers.authorization)
      upstreamHeaders.authorization = req.headers.authorization;
    const phaseTimeouts = body.stream === true ? { ...timeouts, firstByteMs: timeouts.streamFirstByteMs } : timeouts;
    budget.onRequest();
    const exclude = new Set<Endpoint>();
    const started = performance.now();
    let lastFailure = "";
    for (let attempt = 0; ; attempt++) {
      const e = env();
      const t0 = performance.now();
      let picked;
      try {
        pickReq.attempt = attempt;
        picked = pick(profile, pickReq, pool, e, exclude);
      } catch (err) {
        if (!(err instanceof SelectorError)) throw err;
        finish(400);
        return sendError(res, badRequest(err.message, "external-filter", { "x-error-routing": "true" }), baseHeaders);
      }
      metrics.decisionSeconds.observe((performance.now() - t0) / 1000, profile.name);
      const ep = picked.endpoint;
      if (!ep) {
        finish(503);
        const why =
          attempt === 0
            ? adapter
              ? `no endpoint has adapter ${adapter} loaded`
              : `no endpoint of model ${model} passed the filters`
            : `every endpoint tried failed (${lastFailure})`;
        return sendError(
          res,
          {
            status: 503,
            message: `${why}; retry shortly`,
            code: "service_unavailable",
            headers: { "x-error-routing": "true", "retry-after": "1" },
          },
          baseHeaders,
        );
      }
      ep.inFlight++;
      // Only the engine's own block keys can be waited for: without them its KV events never name this prompt.
      const engineKeys =
        coalescing.maxWaitMs > 0 && ep.spec.kvEvents && profile.scorers.some((s) => s.scorer.name === "kv-prefix")
          ? engineKeysFor(pickReq, [ep], defaultPrefixScorerOptions)
          : undefined;
      const prefill = engineKeys ? prefills.enter(ep.id, engineKeys) : undefined;
      if (prefill) {
        res.once("close", prefill.leave);
        if (prefill.wait) metrics.prefillWaits.inc({ outcome: await prefill.wait });
        if (cancel.cancelled) {
          ep.inFlight--;
          finish(499);
          return;
        }
      }
      const sent = performance.now();
      const result = await sendUpstream(ep, path, upstreamHeaders, raw, cancel, phaseTimeouts);
      // Retry only when another endpoint is left to try; otherwise the engine's own answer is the best one.
      const retriable =
        attempt < retry.maxRetries && !cancel.cancelled && pool.some((o) => o !== ep && !exclude.has(o));
      if (result.kind === "failed") {
        ep.inFlight--;
        prefill?.leave();
        if (result.reason === "aborted") {
          finish(499);
          return;
        }
        onEndpointFailure(ep, `${result.reason}: ${result.error.message}`);
        lastFailure = `${ep.id} ${result.reason}`;
        if (retriable && budget.take()) {
          metrics.retries.inc({ model, reason: result.reason });
          exclude.add(ep);
          continue;
        }
        finish(result.reason === "timeout" ? 504 : 502);
        return sendError(
          res,
          {
            status: result.reason === "timeout" ? 504 : 502,
            message: `engine ${ep.id} ${result.reason === "timeout" ? "timed out" : "failed"} before responding (${result.error.message})`,
            code: "upstream_error",
          },
          baseHeaders,
        );
      }
      const status = result.status;
      const contentType = result.contentType ?? "application/json";
      const isSse = contentType.startsWith("text/event-stream");
      if (status >= 500 && retriable && budget.take()) {
        await result.dump();
        ep.inFlight--;
        onEndpointFailure(ep, `status ${status}`);
        lastFailure = `${ep.id} status ${status}`;
        metrics.retries.inc({ model, reason: `status_${status}` });
        exclude.add(ep);
        continue;
      }
      const outHeaders: Record<string, string> = {
        ...ticket?.headers,
        ...baseHeaders,
        "content-type": contentType,
        "target-pod": ep.id,
      };
      if (profile.scorers.some((s) => s.scorer === sessionAffinity))
        outHeaders["x-session-id"] = encodeSessionId(ep.id);
      if (!isSse) {
        let buf: Buffer;
        try {
          buf = await result.readAll();
        } catch (err) {
          ep.inFlight--;
          if (cancel.cancelled) return finish(499);
          onEndpointFailure(ep, `body: ${(err as Error).message}`);
          lastFailure = `${ep.id} body`;
          if (retriable && budget.take()) {
            metrics.retries.inc({ model, reason: "body" });
            exclude.add(ep);
            continue;
          }
          finish(502);
          return sendError(
            res,
            {
              status: 502,
              message: `engine ${ep.id} failed while sending its response (${(err as Error).message})`,
              code: "upstream_error",
            },
            baseHeaders,
          );
        }
        ep.inFlight--;
        metrics.upstreamTtft.observe((performance.now() - sent) / 1000, model);
        if (status < 500) ep.recordSuccess();
        else onEndpointFailure(ep, `status ${status}`);
        // Engine errors in the router's own vocabulary, so clients read one error shape.
        const normalized = status >= 400 ? openAIErrorFrom(status, buf) : undefined;
        if (normalized !== undefined) buf = Buffer.from(normalized);
        outHeaders["content-length"] = String(buf.length);
        res.writeHead(status, outHeaders);
        res.end(buf);
        // Only admission control wants the engine's usage; without a ticket the body is not parsed.
        finish(status, ticket && status === 200 ? usageOf(buf) : undefined);
        accessLog(requestId, model, status, ep.id, profile.name, started, attempt);
        return;
      }
      // Streaming: relay chunk by chunk.
      res.writeHead(status, { ...outHeaders, "cache-control": "no-cache" });
      let usage: TokenUsage | undefined;
      const outcome = await result.relay(res, {
        onFirstChunk: () => metrics.upstreamTtft.observe((performance.now() - sent) / 1000, model),
        onEvents: (n) => ticket?.onCompletionTokens(n),
        onUsage: (u) => (usage = u),
      });
      ep.inFlight--;
      if (outcome === "ok") ep.recordSuccess();
      else if (outcome === "upstream-failed") {
        metrics.streamErrors.inc({ model });
        onEndpointFailure(ep, "failed mid-stream");
      } else cancel.cancel();
      finish(outcome === "ok" ? status : outcome === "client-gone" ? 499 : 502, usage);
      accessLog(requestId, model, outcome === "ok" ? status : 502, ep.id, profile.name, started, attempt);
      return;
    }
  }

  function usageOf(buf: Buffer): TokenUsage | undefined {
    if (buf.indexOf('"usage"') === -1) return undefined;
    try {
      const u = (JSON.parse(buf.toString("utf8")) as { usage?: Partial<TokenUsage> }).usage;
      if (u && typeof u.completion_tokens === "number")
        return { prompt_tokens: u.prompt_tokens ?? 0, completion_tokens: u.completion_tokens };
    } catch {
      // Not JSON: no usage to report.
    }
    return undefined;
  }

  function onEndpointFailure(ep: Endpoint, why: string): void {
    if (ep.recordFailure(Date.now(), ejection)) {
      metrics.ejections.inc({ endpoint: ep.id });
      registry.reindex();
      log.warn({ endpoint: ep.id, until: new Date(ep.ejectedUntil).toISOString(), why }, "endpoint ejected");
    } else {
      log.warn({ endpoint: ep.id, why }, "endpoint failure");
    }
  }

  function accessLog(
    id: string,
    model: string,
    status: number,
    target: string,
    strategy: string,
    started: number,
    retries: number,
  ): void {
    if (options.accessLog === false || !log.isLevelEnabled("info")) return;
    log.info(
      {
        requestId: id,
        model,
        status,
        target,
        strategy,
        retries,
        ms: Math.round((performance.now() - started) * 100) / 100,
      },
      "request",
    );
  }

  const { server } = createServer(handle, {
    limits: options.limits,
    log,
    onUnexpected: (err, _req, res) => {
      metrics.requests.inc("(unknown)", "500", "");
      sendError(res, { status: 500, message: `router error: ${err.message}`, code: "internal_error" });
    },
  });

  await options.discovery.start(onSnapshot);
  admission.attachFleet?.(registry);
  scraper.start();
  health.start();
  const host = options.host ?? "127.0.0.1";
  const port = await listen(server, options.port ?? 8888, host);
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    host,
    port,
    fleet: registry,
    registry,
    metrics,
    catalog,
    kvIndex,
    prefills,
    scrapeNow: () => scraper.scrapeAll(),
    async close() {
      clearInterval(sweepTimer);
      await shutdown(server);
      await options.discovery.close();
      await scraper.close();
      await health.close();
      for (const s of subscribers.values()) s.close();
      subscribers.clear();
      await registry.close();
      await admission.close();
      await prefixSync?.close();
      await shared.close();
    },
  };
}
