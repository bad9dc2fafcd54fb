// The router: wires discovery, the endpoint registry, metric scrapes, health checks, KV event feeds, indexes and
// flow control around the request path (request-path/handler.ts), and serves it over HTTP.
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import { pino, type Logger } from "pino";
import type { Registry } from "prom-client";
import { KvEventSubscriber } from "../engines/kv-events.js";
import { passAll, type FlowControl } from "./flow-control/control.js";
import type { Discovery, DiscoverySnapshot } from "./discovery/types.js";
import {
  defaultEjection,
  EndpointRegistry,
  type EjectionPolicy,
  type Endpoint,
  type FleetView,
} from "./endpoints/endpoints.js";
import { createServer, listen, shutdown, type ServerLimits } from "../serving/http-server.js";
import { sendError } from "./forwarding/errors.js";
import { RouterMetrics } from "./metrics/metrics.js";
import { KvBlockIndex } from "./picking/kv-index.js";
import { PrefixIndex, defaultPrefixIndexOptions } from "./picking/prefix-index.js";
import { PrefixSync } from "./picking/prefix-sync.js";
import { createSharedScorers, type SharedScorers } from "./picking/shared-scorers.js";
import { PipelineCatalog, type CatalogIndexes, type PipelineConfig } from "./picking/pipelines.js";
import { defaultPrefixScorerOptions, type PrefixScorerOptions } from "./picking/scorers/prefix-affinity.js";
import { loadModelTokenizers } from "./prompts/tokenizers.js";
import { PromptCache } from "./prompts/prompt-cache.js";
import { BlockKeyCache } from "../api/block-key-cache.js";
import {
  defaultPrefillCoalescing,
  PrefillCoalescer,
  type PrefillCoalescingOptions,
} from "./forwarding/prefill-coalescing.js";
import { StrategySelector } from "./profiles/strategy.js";
import { defaultTimeouts, EndpointUnhealthy, sendUpstream, type PhaseTimeouts } from "./forwarding/proxy.js";
import { MetricsScraper } from "./endpoints/scraper.js";
import { Turns } from "./request-path/turns.js";
import type { StaticKeys } from "./flow-control/auth/static-keys.js";
import { defaultHealthCheck, HealthChecker, type HealthCheckPolicy } from "./endpoints/health-check.js";
import { createRequestHandler, type RequestHandler } from "./request-path/handler.js";
import type { RequestPathParts } from "./request-path/parts.js";
import { defaultRetry, RetryBudget, type RetryPolicy } from "./request-path/retry.js";
import { RequestIds } from "./request-path/routes.js";

export type { RetryPolicy };

/** Memory (estimated) for engine block keys of seen prefixes: about 100k blocks, 1.6M tokens at block size 16. */
const BLOCK_KEY_CACHE_BYTES = 48 * 1024 * 1024;

export interface RouterOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  discovery: Discovery;
  flowControl?: FlowControl;
  /** Strategy used when a request names none (a name, a weighted list, or a pipeline name). */
  defaultStrategy?: string;
  /** Named picking pipelines (filters → weighted scorers → picker). */
  pipelines?: Record<string, PipelineConfig>;
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
   * started with `--api-key` check it). Default: on without flow control, off with it (a router API key must
   * not reach engines).
   */
  forwardAuthorization?: boolean;
  /** Gateway API keys: every request must present one as `Authorization: Bearer <key>`, else 401. */
  apiKeys?: StaticKeys;
  logger?: Logger;
  logLevel?: string;
  /** One JSON line per request at info level. */
  accessLog?: boolean;
  /**
   * Given this router's metrics registry, what /metrics serves instead of it (a worker pool: the sum over its
   * workers, this one's registry included).
   */
  metricsText?: (registry: Registry) => () => Promise<string>;
  /** Which process of a worker pool this is ("worker 2 of 4, pid 1234"), said on /readyz. */
  workerLabel?: string;
}

export interface Router {
  url: string;
  host: string;
  port: number;
  /** Read-only per-model fleet state (queue depth, KV usage, in-flight) for flow control. */
  fleet: FleetView;
  registry: EndpointRegistry;
  metrics: RouterMetrics;
  catalog: PipelineCatalog;
  kvIndex: KvBlockIndex;
  prefills: PrefillCoalescer;
  /** Scrape every endpoint now (tests; the loop does this on its own). */
  scrapeNow(): Promise<void>;
  close(): Promise<void>;
}

export async function startRouter(options: RouterOptions): Promise<Router> {
  const log = options.logger ?? pino({ level: options.logLevel ?? "info", base: { component: "router" } });
  const flowControl = options.flowControl ?? passAll;
  const scrapeIntervalMs = options.scrapeIntervalMs ?? 100;
  const staleAfterMs = options.staleAfterMs ?? Math.max(200, 3 * scrapeIntervalMs);
  const timeouts: PhaseTimeouts = { ...defaultTimeouts, ...options.timeouts };
  const metrics = new RouterMetrics();
  const { indexes, coalescing, prefills } = createIndexes(options);
  const prefixSync = options.prefixSync && createPrefixSync(indexes.prefixIndex, options.prefixSync.redisUrl, log);
  const tokenizers = await loadModelTokenizers(options.tokenizers ?? {}, log);
  const feeds = new KvEventFeeds(indexes, prefills, metrics, log);
  const registry = new EndpointRegistry(
    { connections: options.connectionsPerEndpoint ?? 256, connectTimeoutMs: timeouts.connectMs },
    staleAfterMs,
    (ep) => feeds.onRemoved(ep),
    (ep) => feeds.onAdded(ep),
  );
  const shared = createSharedScorers({
    redisUrl: options.sharedPicking?.redisUrl,
    localInFlight: () => registry.all().map((ep) => [ep.id, ep.inFlight] as const),
    onError: (what, err) => log.warn({ err: err.message }, `${what} sharing paused; serving with local state`),
  });
  const catalog = createCatalog(options, indexes, shared, log);
  const fallback = catalog.resolve(options.defaultStrategy ?? "least-request");
  const scraper = createScraper(registry, options, scrapeIntervalMs);
  const health = createHealthChecker(registry, options.healthCheck, log);
  const discovered = new DiscoveredModels(registry, log);
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const parts = requestPathParts(options, {
    log,
    registry,
    metrics,
    strategies: new StrategySelector(catalog, fallback, (m) => log.warn(m)),
    flowControl,
    maxBodyBytes,
    tokenizers,
    prefills,
    coalescing,
    staleAfterMs,
    timeouts,
    knownModel: (model) => discovered.known(model),
  });
  const startedAt = Math.floor(Date.now() / 1000);
  const synced = () => discovered.synced;
  const { workerLabel } = options;
  const metricsText = options.metricsText?.(metrics.registry);
  const getRoutes = { registry, metrics, maxBodyBytes, startedAt, synced, metricsText, workerLabel };
  const handle = createRequestHandler(parts, getRoutes, new RequestIds(randomBytes(4).toString("hex")));
  const sweepTimer = setInterval(() => sweepHistories(indexes, Date.now()), 10_000);
  sweepTimer.unref();

  const server = httpServer(handle, options.limits, log, metrics);

  await options.discovery.start((s) => discovered.onSnapshot(s));
  flowControl.attachFleet?.(registry);
  scraper.start();
  health.start();
  const host = options.host ?? "127.0.0.1";
  const port = await listen(server, options.port ?? 8888, host);

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    host,
    port,
    fleet: registry,
    registry,
    metrics,
    catalog,
    kvIndex: indexes.kvIndex,
    prefills,
    scrapeNow: () => scraper.scrapeAll(),
    async close() {
      clearInterval(sweepTimer);
      await shutdown(server);
      // In order: nothing new arrives, then the sources of state stop, then the state's sharing ends.
      for (const part of [options.discovery, scraper, health, feeds, registry, flowControl, prefixSync, shared])
        await part?.close();
    },
  };
}

/**
 * What the router knows of the engines' caches: the prompt blocks it sent each one (in its own approximate keys and
 * in the engines' keys), the blocks each reports holding, and the prefills under way.
 */
function createIndexes(options: RouterOptions) {
  const indexes: Required<CatalogIndexes> = {
    prefixIndex: new PrefixIndex(defaultPrefixIndexOptions),
    kvIndex: new KvBlockIndex(),
    routedBlockKeys: new PrefixIndex(defaultPrefixIndexOptions),
  };
  const coalescing = { ...defaultPrefillCoalescing, ...options.prefillCoalescing };
  return { indexes, coalescing, prefills: new PrefillCoalescer(indexes.kvIndex, coalescing) };
}

/** Expired routing history goes on a timer, not on a request's path. */
function sweepHistories(indexes: Required<CatalogIndexes>, now: number): void {
  indexes.prefixIndex.sweep(now);
  indexes.routedBlockKeys.sweep(now);
}

function httpServer(
  handle: RequestHandler,
  limits: Partial<ServerLimits> | undefined,
  log: Logger,
  metrics: RouterMetrics,
): Server {
  return createServer(handle, {
    limits,
    log,
    onUnexpected: (err, _req, res) => {
      metrics.requests.inc("(unknown)", "500", "");
      sendError(res, { status: 500, message: `router error: ${err.message}`, code: "internal_error" });
    },
  }).server;
}

function createPrefixSync(prefixIndex: PrefixIndex, redisUrl: string, log: Logger): PrefixSync {
  return new PrefixSync(prefixIndex, {
    redisUrl,
    onError: (err) => log.warn({ err: err.message }, "prefix index sharing paused; serving with the local index"),
  });
}

function createScraper(registry: EndpointRegistry, options: RouterOptions, intervalMs: number): MetricsScraper {
  return new MetricsScraper(
    registry,
    {
      intervalMs,
      idleIntervalMs: options.idleScrapeIntervalMs ?? Math.max(1000, intervalMs),
      modelsIntervalMs: options.modelsRefreshMs ?? 2000,
      timeoutMs: Math.max(500, 5 * intervalMs),
    },
    () => registry.reindex(),
  );
}

/** The request path's view of the router: what startRouter built, plus the policies the options set. */
function requestPathParts(
  options: RouterOptions,
  built: Pick<
    RequestPathParts,
    | "log"
    | "registry"
    | "metrics"
    | "strategies"
    | "flowControl"
    | "maxBodyBytes"
    | "tokenizers"
    | "prefills"
    | "coalescing"
    | "staleAfterMs"
    | "timeouts"
    | "knownModel"
  >,
): RequestPathParts {
  const retry: RetryPolicy = { ...defaultRetry, ...options.retry };
  const ejection: EjectionPolicy = { ...defaultEjection, ...options.ejection };
  return {
    ...built,
    apiKeys: options.apiKeys,
    largeSteps: new Turns(),
    // Long shared prompt prefixes (system prompts, earlier turns) are tokenized and hashed once, not per request.
    promptCache: new PromptCache(),
    prefixHashSeed: options.prefixHashSeed,
    // …and with a tokenizer configured, the engines' block keys of those prefixes are hashed once too.
    blockKeyCache: new BlockKeyCache(BLOCK_KEY_CACHE_BYTES),
    retry,
    budget: new RetryBudget(retry),
    upstream: {
      apiKey: options.upstreamApiKey,
      forwardAuthorization: options.forwardAuthorization ?? options.flowControl === undefined,
    },
    accessLog: options.accessLog,
    warnUnenforcedRps: unenforcedRpsWarning(built.log),
    onEndpointFailure: endpointFailureRecorder(built.registry, ejection, built.metrics, built.log),
    send: sendUpstream,
    pluginTiming: (kind, name, seconds) => built.metrics.pluginSeconds.observe(seconds, kind, name),
  };
}

/** The models discovery has named (served or not: a 503 rather than a 404 for them), and whether it has synced. */
class DiscoveredModels {
  private models = new Set<string>();
  synced = false;

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly log: Logger,
  ) {}

  onSnapshot(s: DiscoverySnapshot): void {
    this.registry.update(s.endpoints);
    this.models = new Set([...s.models, ...this.registry.models()]);
    this.synced = true;
    this.log.info({ endpoints: s.endpoints.length, models: this.registry.models() }, "endpoints updated");
  }

  known(model: string): boolean {
    return this.models.has(model);
  }
}

function createCatalog(
  options: RouterOptions,
  indexes: CatalogIndexes,
  shared: SharedScorers,
  log: Logger,
): PipelineCatalog {
  return new PipelineCatalog(
    indexes,
    { ...defaultPrefixScorerOptions, ...options.prefix },
    options.pipelines,
    shared.scorers,
    (model) =>
      log.warn(
        { model },
        "kv-prefix cannot name this model's KV blocks (no tokenizer configured, an adapter path the engines have " +
          "not reported, or a hash algorithm seeded per process): routing it like prefix-cache",
      ),
  );
}

function createHealthChecker(
  registry: EndpointRegistry,
  policy: Partial<HealthCheckPolicy> | undefined,
  log: Logger,
): HealthChecker {
  return new HealthChecker(registry, { ...defaultHealthCheck, ...policy }, (ep, healthy) => {
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
}

function endpointFailureRecorder(
  registry: EndpointRegistry,
  ejection: EjectionPolicy,
  metrics: RouterMetrics,
  log: Logger,
): (ep: Endpoint, why: string) => void {
  return (ep, why) => {
    if (ep.recordFailure(Date.now(), ejection)) {
      metrics.ejections.inc({ endpoint: ep.id });
      registry.reindex();
      log.warn({ endpoint: ep.id, until: new Date(ep.ejectedUntil).toISOString(), why }, "endpoint ejected");
    } else {
      log.warn({ endpoint: ep.id, why }, "endpoint failure");
    }
  };
}

function unenforcedRpsWarning(log: Logger): (model: string) => void {
  const warned = new Set<string>();
  return (model) => {
    if (warned.has(model) || warned.size > 1000) return;
    warned.add(model);
    log.warn(
      { model },
      "a config profile of this model sets requestsPerSecond, but the router runs without flow control: " +
        "start it with --flow-control-config or --redis-url to enforce the limit",
    );
  };
}

/** One KV event subscription per endpoint that publishes them, feeding the block index and prefill coalescing. */
class KvEventFeeds {
  private readonly subscribers = new Map<string, KvEventSubscriber>();

  constructor(
    private readonly indexes: Required<CatalogIndexes>,
    private readonly prefills: PrefillCoalescer,
    private readonly metrics: RouterMetrics,
    private readonly log: Logger,
  ) {
    const { kvIndex } = indexes;
    metrics.observeKvIndex(() => [...this.subscribers.keys()].map((id): [string, number] => [id, kvIndex.blocks(id)]));
  }

  onAdded(ep: Endpoint): void {
    const kv = ep.spec.kvEvents;
    if (!kv) return;
    const { indexes, prefills, metrics, log } = this;
    const { kvIndex } = indexes;
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
    this.subscribers.set(ep.id, sub);
  }

  /** The endpoint is gone: so are its subscription, its blocks and whatever waits on it. */
  onRemoved(ep: Endpoint): void {
    this.subscribers.get(ep.id)?.close();
    this.subscribers.delete(ep.id);
    this.indexes.kvIndex.forget(ep.id);
    this.metrics.forgetKvEndpoint(ep.id);
    this.prefills.forget(ep.id);
    this.indexes.prefixIndex.forget(ep.id);
    this.indexes.routedBlockKeys.forget(ep.id);
  }

  close(): void {
    for (const s of this.subscribers.values()) s.close();
    this.subscribers.clear();
  }
}
