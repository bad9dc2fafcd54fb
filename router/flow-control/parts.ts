// The pieces flow control is assembled from (limits backend, rate limiter, capacity gate, fair queue, user store,
// metrics), built once from its configuration and shared by the decision (acquire.ts), the caller check
// (authorize.ts) and the service around them (create.ts).
import { pino, type Logger } from "pino";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AuthMode } from "./auth/authenticate.js";
import type { FlowDecision, FlowFleetView } from "./control.js";
import { defaultFairQueueOptions, FairQueue, type FairQueueOptions } from "./fairness/fair-queue.js";
import { defaultSaturation, type SaturationThresholds } from "./fairness/saturation.js";
import { MemoryVtcCounters, RedisVtcCounters, type VtcCounters } from "./fairness/vtc-counters.js";
import { ModelGate } from "./gate.js";
import { LimitBackend, type RedisFailureMode } from "./limits/backend.js";
import { defaultLimitsConfig, RateLimiter, type LimitsConfig } from "./limits/limiter.js";
import type { rejection } from "./rejections.js";
import { CachedUserStore, MemoryUserStore, RedisUserStore, type UserStore } from "./users/store.js";

export interface FlowControlConfig {
  /** `redis://host:port`: limits, VTC counters and users are shared by every replica using the same Redis. */
  redisUrl?: string;
  /** What to do while Redis is unreachable: serve with local limits (`open`, default) or refuse (`closed`). */
  onRedisFailure?: RedisFailureMode;
  keyPrefix?: string;
  /** A Redis command slower than this (default 250 ms) fails; three in a row and Redis is treated as down. */
  redisCommandTimeoutMs?: number;
  /** `keys`: `Authorization: Bearer <API key>` required; `off` (default): the `user` header names the tenant. */
  auth?: AuthMode;
  /** With auth off, a `user` header naming no known user: `allow` (no per-user limits, default) or `reject` (401). */
  unknownUsers?: "allow" | "reject";
  limits?: Partial<LimitsConfig>;
  fairness?: Partial<FairQueueOptions>;
  saturation?: Partial<SaturationThresholds>;
  /** How often the fleet view's metrics refresh (bounds releases from the queue per interval). */
  metricsIntervalMs?: number;
  /** Users are re-read from the store at most this often per replica. */
  userCacheTtlMs?: number;
  /** Bearer token for the users API; unset = open (bind the admin port to loopback). */
  adminToken?: string;
  fleet?: FlowFleetView;
  logger?: Logger;
  registry?: Registry;
  now?: () => number;
}

export interface FlowParts {
  config: FlowControlConfig;
  logger: Logger;
  registry: Registry;
  now: () => number;
  backend: LimitBackend;
  limitsConfig: LimitsConfig;
  limiter: RateLimiter;
  gate: ModelGate;
  counters: VtcCounters;
  queue: FairQueue;
  store: UserStore;
  cache: CachedUserStore;
  authMode: AuthMode;
  metrics: ReturnType<typeof flowControlMetrics>;
}

/** Connects the limits backend (Redis when configured) and builds every part on it. */
export async function assembleParts(config: FlowControlConfig): Promise<FlowParts> {
  const logger = config.logger ?? pino({ name: "flow-control", level: process.env.LOG_LEVEL ?? "info" });
  const registry = config.registry ?? new Registry();
  const now = config.now ?? Date.now;
  const keyPrefix = config.keyPrefix ?? "aibrix-ts:";
  const backend = new LimitBackend({
    redisUrl: config.redisUrl,
    onRedisFailure: config.onRedisFailure ?? "open",
    keyPrefix,
    commandTimeoutMs: config.redisCommandTimeoutMs ?? 250,
    logger,
    registry,
  });
  await backend.ready();
  const limitsConfig: LimitsConfig = { ...defaultLimitsConfig, ...config.limits };
  const limiter = new RateLimiter(backend, limitsConfig, now);
  const thresholds: SaturationThresholds = { ...defaultSaturation, ...config.saturation };
  const gate = new ModelGate(limiter, thresholds, config.metricsIntervalMs ?? 100, now);
  if (config.fleet) gate.fleet = config.fleet;
  const fairOpts: FairQueueOptions = { ...defaultFairQueueOptions, ...config.fairness };
  const counters: VtcCounters = backend.redis
    ? new RedisVtcCounters(backend.redis, keyPrefix + "vtc:", 50, () => backend.redisUp)
    : new MemoryVtcCounters();
  const queue = new FairQueue(fairOpts, counters, gate, now);
  const store: UserStore = backend.redis
    ? new RedisUserStore(backend.redis, keyPrefix + "api-keys/")
    : new MemoryUserStore();
  const cache = new CachedUserStore(
    store,
    config.userCacheTtlMs ?? 1000,
    now,
    () => !backend.redisConfigured || backend.redisUp,
  );
  const authMode = config.auth ?? "off";
  const metrics = flowControlMetrics(registry, queue);
  return {
    config,
    logger,
    registry,
    now,
    backend,
    limitsConfig,
    limiter,
    gate,
    counters,
    queue,
    store,
    cache,
    authMode,
    metrics,
  };
}

/** A refusal, counted by reason. */
export function refuse(parts: FlowParts, r: ReturnType<typeof rejection>, reason: string): FlowDecision {
  parts.metrics.outcomes.inc({ outcome: "rejected", reason });
  return { ok: false, rejection: r };
}

function flowControlMetrics(registry: Registry, queue: FairQueue) {
  const outcomes = new Counter({
    name: "aibrix_router_admission_total",
    help: "Flow-control decisions by outcome and reason (direct, queued, auth, rpm, tpm, model-rps, shed, timeout, ...)",
    labelNames: ["outcome", "reason"],
    registers: [registry],
  });
  const wait = new Histogram({
    name: "aibrix_router_fair_queue_wait_seconds",
    help: "Time requests spent in the fair queue",
    labelNames: ["model", "class"],
    buckets: [0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const decision = new Histogram({
    name: "aibrix_router_admission_decision_seconds",
    help: "Time from arrival to the flow-control decision (auth, limits, queue)",
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
    registers: [registry],
  });
  new Gauge({
    name: "aibrix_router_fair_queue_depth",
    help: "Requests waiting in the fair queue",
    labelNames: ["model"],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of queue.models()) this.set({ model: m }, queue.depth(m));
    },
  });
  return { outcomes, wait, decision };
}
