// Flow control for the router, assembled from its parts: auth → per-model RPS → per-user RPM/TPM → fair queue
// (VTC, priorities, shedding) in front of saturated models. One constructor; the router only sees FlowControl.
import type http from "node:http";
import { isIP } from "node:net";
import { pino, type Logger } from "pino";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { FlowControl, FlowDecision, FlowFleetView, FlowRequest, FlowTicket, TokenUsage } from "./control.js";
import { identify, type AuthMode, type Identity } from "./auth/authenticate.js";
import type { User } from "./users/user.js";
import { defaultFairQueueOptions, FairQueue, type FairQueueOptions, type QueueRefusal } from "./fairness/fair-queue.js";
import { parsePriority, priorityClass } from "./fairness/priority.js";
import { defaultSaturation, type SaturationThresholds } from "./fairness/saturation.js";
import { MemoryVtcCounters, RedisVtcCounters, type VtcCounters } from "./fairness/vtc-counters.js";
import { LimitBackend, SharedStateUnavailable, type RedisFailureMode } from "./limits/backend.js";
import { defaultLimitsConfig, RateLimiter, type LimitsConfig, type UserCharge } from "./limits/limiter.js";
import { usersApiHandler, type UsersHandler } from "./users/api.js";
import { CachedUserStore, MemoryUserStore, RedisUserStore, type UserStore } from "./users/store.js";
import { ModelGate } from "./gate.js";
import { createServer, listen, shutdown } from "../../serving/http-server.js";
import { limitRejection, rejection } from "./rejections.js";

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

export interface FlowControlService {
  control: FlowControl;
  /** The users store behind the users API (for tools and tests). */
  users: UserStore;
  /** Users API + `/metrics` (flow-control metrics) + `/healthz`, for the admin port. */
  adminHandler: UsersHandler;
  registry: Registry;
  /** Starts the admin HTTP server; port 0 picks a free one. */
  startAdminServer(port: number, host?: string): Promise<{ port: number; close(): Promise<void> }>;
  redisUp(): boolean;
  /** Requests waiting in the fair queue for `model`. */
  queueDepth(model: string): number;
  close(): Promise<void>;
}

const ANONYMOUS = "(anonymous)";

export async function createFlowControl(config: FlowControlConfig = {}): Promise<FlowControlService> {
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

  const refuse = (r: ReturnType<typeof rejection>, reason: string): FlowDecision => {
    metrics.outcomes.inc({ outcome: "rejected", reason });
    return { ok: false, rejection: r };
  };

  /** Who is asking, whether they may use the model, and at what priority; else the refusal. */
  async function authorize(
    req: FlowRequest,
  ): Promise<{ tenant?: string; user?: User; priority: number } | FlowDecision> {
    let who: Identity;
    try {
      who = await identify(req, authMode, cache);
    } catch (err) {
      // The user store is unreachable and this user is not cached. Without auth, fail-open serves the request
      // with no per-user limits; a key cannot be verified, so with auth on (or fail-closed) the answer is 503.
      const message = err instanceof Error ? err.message : String(err);
      if (authMode === "keys" || config.onRedisFailure === "closed") {
        return refuse(
          rejection(503, "service_unavailable", `cannot look up the caller: user store unreachable (${message})`, {
            "retry-after": "1",
          }),
          "redis-down",
        );
      }
      logger.debug({ err: message }, "user store unreachable; serving without per-user limits");
      who = { ok: true, name: req.user ?? headerString(req.headers["user"]) };
    }
    if (!who.ok) return refuse(rejection(401, who.code, who.message, { "x-error-user": who.header }), "auth");
    const user = who.user;
    if (who.name && !user && config.unknownUsers === "reject") {
      return refuse(
        rejection(401, "user_not_found", `user ${who.name} does not exist`, { "x-error-user": "true" }, "user"),
        "auth",
      );
    }
    if (user?.models && !user.models.includes(req.model)) {
      return refuse(
        rejection(
          403,
          "model_not_allowed",
          `user ${user.name} may not use model ${req.model}; allowed: ${user.models.join(", ")}`,
          {},
          "model",
        ),
        "model",
      );
    }
    const priority = resolvePriority(req, user?.priority, authMode);
    if (typeof priority !== "number") {
      return refuse(rejection(400, "invalid_value", `priority header ${priority.error}`, {}, "priority"), "priority");
    }
    return { tenant: who.name, user, priority };
  }

  async function acquire(req: FlowRequest, signal: AbortSignal): Promise<FlowDecision> {
    const started = now();
    try {
      const caller = await authorize(req);
      if ("ok" in caller) return caller;
      const { tenant, user, priority } = caller;

      const rps = await limiter.takeModelRps(req.model, req.profileRps);
      if (rps && "limit" in rps) return refuse(limitRejection(rps, req.model, 1000), "model-rps");
      const rpsBucket = rps?.bucket;
      const refundRps = () => (rpsBucket !== undefined ? limiter.refundModelRps(req.model, rpsBucket) : undefined);

      let charge: UserCharge | undefined;
      if (user && tenant && (user.rpm !== null || user.tpm !== null)) {
        const reserve = req.promptTokens + (req.maxTokens ?? 0);
        const taken = await limiter.takeUser(tenant, user.rpm, user.tpm, reserve);
        if (!taken.ok) {
          await refundRps();
          return refuse(limitRejection(taken.hit, tenant, limitsConfig.userWindowMs), taken.hit.limit);
        }
        charge = taken.charge;
      }

      const fairUser = tenant ?? ANONYMOUS;
      const outcome = await queue.enter(req.model, fairUser, priority, req.promptTokens, req.id, signal);
      metrics.wait.observe({ model: req.model, class: priorityClass(priority) }, outcome.waitedMs / 1000);
      if (!outcome.ok) {
        if (charge && tenant) await limiter.refundUser(tenant, charge);
        await refundRps();
        return refuse(queueRejection(outcome.reason, req.model, priority), outcome.reason);
      }
      if (signal.aborted) {
        // The client left while we decided: hand everything back rather than a ticket nobody will finish.
        gate.release(req.model, req.id);
        queue.capacityFreed(req.model);
        if (charge && tenant) await limiter.refundUser(tenant, charge);
        await refundRps();
        return refuse(queueRejection("aborted", req.model, priority), "aborted");
      }
      metrics.outcomes.inc({ outcome: "admitted", reason: outcome.waitedMs > 0 ? "queued" : "direct" });
      metrics.decision.observe((now() - started) / 1000);
      return { ok: true, ticket: ticketFor(req, tenant, fairUser, charge) };
    } catch (err) {
      if (err instanceof SharedStateUnavailable) {
        return refuse(rejection(503, "service_unavailable", err.message, { "retry-after": "1" }), "redis-down");
      }
      throw err;
    }
  }

  function ticketFor(
    req: FlowRequest,
    tenant: string | undefined,
    fairUser: string,
    charge: UserCharge | undefined,
  ): FlowTicket {
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

  const control: FlowControl = {
    acquire,
    attachFleet(view: FlowFleetView) {
      gate.fleet = view;
    },
    async close() {
      await close();
    },
  };

  const usersApi = usersApiHandler({ store, cache, adminToken: config.adminToken });
  const adminHandler: UsersHandler = (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      void registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(text);
      });
      return;
    }
    if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ ok: true, redis: backend.redisConfigured ? (backend.redisUp ? "up" : "down") : "none" }),
      );
      return;
    }
    usersApi(req, res);
  };

  let closed = false;
  const servers: http.Server[] = [];
  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    queue.close();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
          }),
      ),
    );
    await counters.close();
    await backend.close();
  }

  return {
    control,
    users: store,
    adminHandler,
    registry,
    redisUp: () => backend.redisUp,
    queueDepth: (model) => queue.depth(model),
    async startAdminServer(port: number, host = "127.0.0.1") {
      if (!config.adminToken && !isLoopback(host)) {
        throw new Error(
          `admin API on ${host}: anyone who can reach it could create users and keys; set $AIBRIX_ADMIN_TOKEN ` +
            "(callers then send Authorization: Bearer <token>) or listen on 127.0.0.1",
        );
      }
      const { server } = createServer(adminHandler, { log: logger });
      servers.push(server);
      const bound = await listen(server, port, host);
      return { port: bound, close: () => shutdown(server) };
    },
    close,
  };
}

/**
 * The request's priority: the `priority` header (class name or integer) or the user's own. With auth on, a request
 * may lower its priority but not raise it above its user's (default 0), so a key cannot buy itself "critical".
 */
function resolvePriority(
  req: FlowRequest,
  userPriority: number | undefined,
  auth: AuthMode,
): number | { error: string } {
  const raw = req.priority ?? header(req.headers["priority"]) ?? header(req.headers["x-priority"]);
  if (raw === undefined) return userPriority ?? 0;
  const p = parsePriority(raw);
  if (typeof p !== "number") return p;
  const cap = auth === "keys" ? (userPriority ?? 0) : userPriority;
  return cap === undefined ? p : Math.min(p, cap);
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function headerString(v: string | string[] | undefined): string | undefined {
  const s = header(v);
  return s ? s : undefined;
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

function flowControlMetrics(registry: Registry, queue: FairQueue) {
  const outcomes = new Counter({
    name: "aibrix_router_admission_total",
    help: "FlowControlService decisions by outcome and reason (direct, queued, auth, rpm, tpm, model-rps, shed, timeout, ...)",
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

/** Whether `host` is a loopback address (127.0.0.0/8, ::1) or `localhost`. */
function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}
