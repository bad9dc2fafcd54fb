// Polls every endpoint's `/metrics` (and `/v1/models` on a slower interval, for adapter residency). A scrape that fails
// or times out leaves the old numbers in place; they go stale and stop winning picks.
//
// Scrapes cost the engine too (rendering `/metrics` competes with serving), so the short interval is kept for the
// endpoints whose numbers something routes on: a strategy reading engine metrics, the saturation filter, LoRA
// residency, flowControl's fleet view. Endpoints only picked on the router's own state (in-flight counts, prefix
// indexes) are polled on the idle interval, and return to the short one within an interval of the first read.
import { Pool } from "undici";
import { parseEngineMetrics } from "../../engines/metric-names.js";
import type { Endpoint, EndpointRegistry } from "./endpoints.js";

export interface ScraperOptions {
  /** Poll interval while the endpoint's metrics are in use. */
  intervalMs: number;
  /** Poll interval while nothing has read them for `METRICS_IN_USE_FOR_MS` (at least `intervalMs`). */
  idleIntervalMs: number;
  modelsIntervalMs: number;
  timeoutMs: number;
}

/** How long one read keeps an endpoint on the short interval. */
export const METRICS_IN_USE_FOR_MS = 60_000;

export class MetricsScraper {
  private timer?: NodeJS.Timeout;
  private modelsTimer?: NodeJS.Timeout;
  private pools = new Map<string, Pool>();
  private busy = new Map<string, Promise<void>>();
  /** When each endpoint's last scrape started (weakly held: an endpoint discovery drops takes its entry along). */
  private lastStarted = new WeakMap<Endpoint, number>();
  scrapeErrors = 0;

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly opts: ScraperOptions,
    private readonly onAdaptersChanged: () => void,
  ) {}

  start(): void {
    void this.scrapeAll();
    void this.refreshModelsAll();
    this.timer = setInterval(() => void this.tick(Date.now()), this.opts.intervalMs);
    this.modelsTimer = setInterval(() => void this.refreshModelsAll(), this.opts.modelsIntervalMs);
    this.timer.unref();
    this.modelsTimer.unref();
  }

  /** Whether `ep` is polled on the short interval at `now`. */
  inUse(ep: Endpoint, now: number): boolean {
    return now - ep.metricsReadAt < METRICS_IN_USE_FOR_MS;
  }

  /** Scrapes every endpoint whose interval (short or idle) has come round; resolves when those scrapes end. */
  tick(now: number): Promise<void> {
    // Half an interval of slack: timers fire late, and a scrape due a millisecond after this tick must not wait a
    // whole interval more.
    const slack = this.opts.intervalMs / 2;
    const idle = Math.max(this.opts.idleIntervalMs, this.opts.intervalMs);
    const started: Promise<void>[] = [];
    for (const ep of this.registry.all()) {
      const every = this.inUse(ep, now) ? this.opts.intervalMs : idle;
      if (now - (this.lastStarted.get(ep) ?? -Infinity) < every - slack) continue;
      this.lastStarted.set(ep, now);
      started.push(this.scrape(ep));
    }
    return Promise.all(started).then(() => undefined);
  }

  /** A dedicated single-connection pool per endpoint, so scrapes never queue behind inference traffic. */
  private pool(ep: Endpoint): Pool {
    const port = ep.spec.metricsPort ?? ep.spec.port;
    const key = `${ep.spec.host}:${port}`;
    let p = this.pools.get(key);
    if (!p) {
      p = new Pool(`http://${key}`, { connections: 1, connect: { timeout: this.opts.timeoutMs } });
      this.pools.set(key, p);
    }
    return p;
  }

  async scrapeAll(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      this.registry.all().map((ep) => {
        this.lastStarted.set(ep, now);
        return this.scrape(ep);
      }),
    );
  }

  /** Scrape one endpoint; a scrape already in flight is shared rather than doubled. */
  scrape(ep: Endpoint): Promise<void> {
    const running = this.busy.get(ep.id);
    if (running) return running;
    const p = this.scrapeOnce(ep).finally(() => this.busy.delete(ep.id));
    this.busy.set(ep.id, p);
    return p;
  }

  private async scrapeOnce(ep: Endpoint): Promise<void> {
    try {
      const res = await this.pool(ep).request({
        path: "/metrics",
        method: "GET",
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      ep.recordMetrics(parseEngineMetrics(text, ep.spec.engine), Date.now());
    } catch {
      this.scrapeErrors++;
    }
  }

  async refreshModelsAll(): Promise<void> {
    const results = await Promise.all(this.registry.all().map((ep) => this.refreshModels(ep)));
    if (results.some((changed) => changed)) this.onAdaptersChanged();
  }

  /** Reads the engine's `/v1/models`; every entry other than the base model is a loaded adapter. */
  async refreshModels(ep: Endpoint): Promise<boolean> {
    try {
      const res = await ep.pool.request({
        path: "/v1/models",
        method: "GET",
        headersTimeout: 2000,
        bodyTimeout: 2000,
      });
      const body = (await res.body.json()) as { data?: { id?: unknown; root?: unknown; max_model_len?: unknown }[] };
      if (res.statusCode !== 200 || !Array.isArray(body.data)) return false;
      const next = new Set<string>();
      const paths = new Map<string, string>();
      for (const m of body.data) {
        if (m.id === ep.spec.model && typeof m.max_model_len === "number" && m.max_model_len > 0) {
          ep.maxModelLen = m.max_model_len;
        }
        if (typeof m.id !== "string" || m.id === ep.spec.model) continue;
        next.add(m.id);
        if (typeof m.root === "string") paths.set(m.id, m.root);
      }
      ep.adapterPaths = paths;
      const same = next.size === ep.engineAdapters.size && [...next].every((a) => ep.engineAdapters.has(a));
      if (same) return false;
      ep.engineAdapters = next;
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.modelsTimer) clearInterval(this.modelsTimer);
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
    this.pools.clear();
  }
}
