// Live state of every engine endpoint the router knows: what discovery says it serves, what its last scrape said,
// what the router itself has in flight there, and whether it is ejected after repeated failures.
import { Pool } from "undici";
import type { EngineKind, EngineMetrics } from "../../engines/metric-names.js";
import type { ConfigProfileDoc } from "../profiles/types.js";

/** What discovery knows about one engine endpoint (one pod port, or one static entry). */
export interface EndpointSpec {
  /** `host:port`, unique. */
  id: string;
  host: string;
  port: number;
  /** Base model served. */
  model: string;
  /** Adapters discovery says are loaded (ModelAdapter status, or the static file). */
  adapters: string[];
  engine: EngineKind;
  gpuType?: string;
  /** Port serving `/metrics` when it differs from `port`. */
  metricsPort?: number;
  /** ZMQ endpoints of the engine's KV-event publisher. */
  kvEvents?: { endpoint: string; replayEndpoint?: string; topic?: string };
  /** Labels used by the `external-filter` header (pod labels in Kubernetes). */
  labels?: Record<string, string>;
  /** Pod name, when discovered from Kubernetes. */
  podName?: string;
  /** Routing profiles (`model.aibrix.ai/config` annotation, or the static file's `config`). */
  config?: ConfigProfileDoc;
}

export interface EjectionPolicy {
  /** Consecutive failures that eject an endpoint. */
  consecutiveFailures: number;
  /** First cool-down; doubles on each re-ejection up to `maxCooldownMs`. */
  baseCooldownMs: number;
  maxCooldownMs: number;
}

export const defaultEjection: EjectionPolicy = { consecutiveFailures: 3, baseCooldownMs: 2000, maxCooldownMs: 30000 };

export interface PoolOptions {
  connections: number;
  connectTimeoutMs: number;
}

export class Endpoint {
  readonly pool: Pool;
  /** Requests the router has sent here and not yet finished (authoritative for least-request). */
  inFlight = 0;
  metrics: EngineMetrics = {};
  /** Wall-clock ms of the last successful scrape; 0 = never. */
  metricsAt = 0;
  /** Wall-clock ms when something last routed on the scraped metrics (see `metricsFresh`); -Infinity = never. */
  metricsReadAt = -Infinity;
  /** Token rates derived from counter deltas between scrapes (tok/s). */
  promptTps?: number;
  genTps?: number;
  /** EWMA of "engine had running requests" over scrapes: the busy-time proxy. */
  busyRatio?: number;
  /** Adapters the engine itself lists in `/v1/models`. */
  engineAdapters = new Set<string>();
  /** Adapter name → the path the engine loaded it from (`root` in its `/v1/models`); part of vLLM's block keys. */
  adapterPaths = new Map<string, string>();
  consecutiveFailures = 0;
  ejectedUntil = 0;
  /** Failed active health checks in a row, and whether they took the endpoint out. */
  healthFailures = 0;
  unhealthy = false;
  /** Context length the engine reports in `/v1/models` (`max_model_len`). */
  maxModelLen?: number;
  /** Aborts of the requests sent here that have no response headers yet. */
  readonly awaitingHeaders = new Set<(err: Error) => void>();
  ejections = 0;
  private prevCounters?: { prompt: number; gen: number; at: number };

  constructor(
    public spec: EndpointSpec,
    poolOptions: PoolOptions,
  ) {
    this.pool = new Pool(`http://${spec.host}:${spec.port}`, {
      connections: poolOptions.connections,
      connect: { timeout: poolOptions.connectTimeoutMs },
      keepAliveTimeout: 30_000,
      // Per-request timeouts are set on each dispatch; these are the outer bounds.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  get id(): string {
    return this.spec.id;
  }

  hasAdapter(name: string): boolean {
    return this.engineAdapters.has(name) || this.spec.adapters.includes(name);
  }

  /** Adapter slots still free, from `vllm:lora_requests_info` (`max_lora` minus running adapters). */
  freeAdapterSlots(): number | undefined {
    const l = this.metrics.lora;
    if (!l || l.maxLora <= 0) return undefined;
    return Math.max(0, l.maxLora - new Set([...l.running, ...l.waiting]).size);
  }

  isEjected(now: number): boolean {
    return this.unhealthy || this.ejectedUntil > now;
  }

  /**
   * Whether the scraped metrics are recent enough to route on. Every reader of scraped numbers asks this (or calls
   * `wantMetrics`), which keeps the endpoint on the short scrape interval while they are in use.
   */
  metricsFresh(now: number, staleAfterMs: number): boolean {
    this.metricsReadAt = now;
    return this.metricsAt !== 0 && now - this.metricsAt <= staleAfterMs;
  }

  /** A reader that takes the last scraped numbers however old (adapter residency) still wants them kept current. */
  wantMetrics(now: number): void {
    this.metricsReadAt = now;
  }

  recordMetrics(m: EngineMetrics, now: number): void {
    const prev = this.prevCounters;
    if (m.promptTokensTotal !== undefined && m.generationTokensTotal !== undefined) {
      if (prev && now > prev.at) {
        const dt = (now - prev.at) / 1000;
        const p = (m.promptTokensTotal - prev.prompt) / dt;
        const g = (m.generationTokensTotal - prev.gen) / dt;
        // Counters reset when an engine restarts; a negative rate is that, not a measurement.
        if (p >= 0 && g >= 0) {
          this.promptTps = this.promptTps === undefined ? p : 0.7 * this.promptTps + 0.3 * p;
          this.genTps = this.genTps === undefined ? g : 0.7 * this.genTps + 0.3 * g;
        }
      }
      this.prevCounters = { prompt: m.promptTokensTotal, gen: m.generationTokensTotal, at: now };
    }
    if (m.genThroughput !== undefined) this.genTps = m.genThroughput;
    const busy = (m.running ?? 0) > 0 ? 1 : 0;
    this.busyRatio = this.busyRatio === undefined ? busy : 0.9 * this.busyRatio + 0.1 * busy;
    this.metrics = m;
    this.metricsAt = now;
  }

  /** Returns true when this failure ejected the endpoint. */
  recordFailure(now: number, policy: EjectionPolicy): boolean {
    this.consecutiveFailures++;
    if (this.consecutiveFailures < policy.consecutiveFailures || this.isEjected(now)) return false;
    const cooldown = Math.min(policy.maxCooldownMs, policy.baseCooldownMs * 2 ** Math.min(this.ejections, 10));
    this.ejections++;
    this.ejectedUntil = now + cooldown;
    // Half-open on return: one more failure ejects again.
    this.consecutiveFailures = policy.consecutiveFailures - 1;
    return true;
  }

  recordSuccess(): void {
    this.consecutiveFailures = 0;
    this.ejections = 0;
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => undefined);
  }
}

/** Read-only view of one endpoint for flow control (saturation-based shedding). */
export interface EndpointView {
  id: string;
  model: string;
  adapters: readonly string[];
  gpuType?: string;
  /** Engine queue depth from the last scrape (undefined: never scraped). */
  waiting?: number;
  running?: number;
  /** KV-cache usage 0..1 from the last scrape. */
  kvUsage?: number;
  /** Requests the router has in flight there right now. */
  inFlight: number;
  /** Age of the last scrape in ms (Infinity: never scraped). */
  metricsAgeMs: number;
  stale: boolean;
  ejected: boolean;
}

/**
 * Per-model fleet state, read-only, for flow control. `endpoints(model)` accepts a base model or an adapter
 * name and returns the endpoints that serve it; `models()` lists every servable name.
 */
export interface FleetView {
  models(): string[];
  endpoints(model: string): EndpointView[];
}

/** Index of endpoints by id and by servable model name (base models and adapters). */
export class EndpointRegistry implements FleetView {
  private byId = new Map<string, Endpoint>();
  private byModel = new Map<string, Endpoint[]>();
  /** Adapter name → base model, for `/v1/models`. */
  readonly adapterParent = new Map<string, string>();
  private version = 0;

  constructor(
    private readonly poolOptions: PoolOptions,
    readonly staleAfterMs: number,
    private readonly onRemoved: (ep: Endpoint) => void = () => {},
    private readonly onAdded: (ep: Endpoint) => void = () => {},
  ) {}

  /** Replace the set of endpoints with `specs` (diffed: unchanged endpoints keep their state and connections). */
  update(specs: EndpointSpec[]): void {
    const next = new Map<string, EndpointSpec>();
    for (const s of specs) next.set(s.id, s);
    for (const [id, ep] of this.byId) {
      if (!next.has(id)) {
        this.byId.delete(id);
        this.onRemoved(ep);
        void ep.close();
      }
    }
    for (const [id, spec] of next) {
      const ep = this.byId.get(id);
      if (ep) ep.spec = spec;
      else {
        const created = new Endpoint(spec, this.poolOptions);
        this.byId.set(id, created);
        this.onAdded(created);
      }
    }
    this.reindex();
  }

  /** Rebuild the model index (also after engine adapter lists change). */
  reindex(): void {
    const byModel = new Map<string, Endpoint[]>();
    const add = (name: string, ep: Endpoint) => {
      const list = byModel.get(name);
      if (list) list.push(ep);
      else byModel.set(name, [ep]);
    };
    this.adapterParent.clear();
    for (const ep of this.byId.values()) {
      add(ep.spec.model, ep);
      for (const a of new Set([...ep.spec.adapters, ...ep.engineAdapters])) {
        if (a === ep.spec.model) continue;
        add(a, ep);
        this.adapterParent.set(a, ep.spec.model);
      }
    }
    this.byModel = byModel;
    this.version++;
  }

  get(id: string): Endpoint | undefined {
    return this.byId.get(id);
  }

  all(): Endpoint[] {
    return [...this.byId.values()];
  }

  /** Endpoints serving `model` (base or adapter); shared array, do not mutate. */
  serving(model: string): readonly Endpoint[] {
    return this.byModel.get(model) ?? [];
  }

  models(): string[] {
    return [...this.byModel.keys()].sort();
  }

  endpoints(model: string): EndpointView[] {
    const now = Date.now();
    return this.serving(model).map((ep) => ({
      id: ep.id,
      model: ep.spec.model,
      adapters: [...new Set([...ep.spec.adapters, ...ep.engineAdapters])],
      gpuType: ep.spec.gpuType,
      waiting: ep.metrics.waiting,
      running: ep.metrics.running,
      kvUsage: ep.metrics.kvUsage,
      inFlight: ep.inFlight,
      metricsAgeMs: ep.metricsAt === 0 ? Infinity : now - ep.metricsAt,
      stale: !ep.metricsFresh(now, this.staleAfterMs),
      ejected: ep.isEjected(now),
    }));
  }

  async close(): Promise<void> {
    const eps = [...this.byId.values()];
    this.byId.clear();
    this.byModel.clear();
    await Promise.all(eps.map((e) => e.close()));
  }
}
