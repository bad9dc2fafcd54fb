// Polls every endpoint's `/metrics` on a short interval (and `/v1/models` on a slower one, for adapter residency).
// A scrape that fails or times out leaves the old numbers in place; they go stale and stop winning picks.
import { Pool } from "undici";
import { parseEngineMetrics } from "../engines/metric-names.js";
import type { Endpoint, EndpointRegistry } from "./endpoints.js";

export interface ScraperOptions {
  intervalMs: number;
  modelsIntervalMs: number;
  timeoutMs: number;
}

export class MetricsScraper {
  private timer?: NodeJS.Timeout;
  private modelsTimer?: NodeJS.Timeout;
  private pools = new Map<string, Pool>();
  private busy = new Map<string, Promise<void>>();
  scrapeErrors = 0;

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly opts: ScraperOptions,
    private readonly onAdaptersChanged: () => void,
  ) {}

  start(): void {
    void this.scrapeAll();
    void this.refreshModelsAll();
    this.timer = setInterval(() => void this.scrapeAll(), this.opts.intervalMs);
    this.modelsTimer = setInterval(() => void this.refreshModelsAll(), this.opts.modelsIntervalMs);
    this.timer.unref();
    this.modelsTimer.unref();
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
    await Promise.all(this.registry.all().map((ep) => this.scrape(ep)));
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
      const body = (await res.body.json()) as { data?: { id?: unknown }[] };
      if (res.statusCode !== 200 || !Array.isArray(body.data)) return false;
      const next = new Set<string>();
      for (const m of body.data) if (typeof m.id === "string" && m.id !== ep.spec.model) next.add(m.id);
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
