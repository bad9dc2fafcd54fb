// Active health checks: `GET /health` on every endpoint (what vLLM and SGLang serve), so an engine that hangs is
// taken out of rotation within a few seconds, before requests pile up on it waiting for a first byte.
import { Pool } from "undici";
import type { Endpoint, EndpointRegistry } from "./endpoints.js";

export interface HealthCheckPolicy {
  /** Time between checks of one endpoint; 0 turns checks off. */
  intervalMs: number;
  /** A check unanswered for this long failed. */
  timeoutMs: number;
  /** Failed checks in a row that take the endpoint out (one success brings it back). */
  failures: number;
}

export const defaultHealthCheck: HealthCheckPolicy = { intervalMs: 1000, timeoutMs: 1000, failures: 2 };

export class HealthChecker {
  private timer?: NodeJS.Timeout;
  private pools = new Map<string, Pool>();
  private inFlight = new Set<string>();

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly policy: HealthCheckPolicy,
    private readonly onChange: (ep: Endpoint, healthy: boolean) => void,
  ) {}

  start(): void {
    if (this.policy.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.checkAll(), this.policy.intervalMs);
    this.timer.unref();
  }

  checkAll(): Promise<void> {
    return Promise.all(this.registry.all().map((ep) => this.check(ep))).then(() => undefined);
  }

  /** One check; an endpoint whose previous check is still waiting is skipped (that one will time out). */
  async check(ep: Endpoint): Promise<void> {
    if (this.inFlight.has(ep.id)) return;
    this.inFlight.add(ep.id);
    let ok: boolean;
    // Our own timer: undici's request timeouts tick in whole seconds.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.policy.timeoutMs);
    try {
      const res = await this.pool(ep).request({ path: "/health", method: "GET", signal: abort.signal });
      await res.body.dump();
      // 404: an engine without a health route; only a server-side failure counts against it.
      ok = res.statusCode < 500;
    } catch {
      ok = false;
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(ep.id);
    }
    if (ok) {
      ep.healthFailures = 0;
      if (ep.unhealthy) {
        ep.unhealthy = false;
        this.onChange(ep, true);
      }
      return;
    }
    ep.healthFailures++;
    if (!ep.unhealthy && ep.healthFailures >= this.policy.failures) {
      ep.unhealthy = true;
      this.onChange(ep, false);
    }
  }

  /** A single-connection pool per endpoint, so checks never queue behind inference traffic. */
  private pool(ep: Endpoint): Pool {
    let p = this.pools.get(ep.id);
    if (!p) {
      p = new Pool(`http://${ep.spec.host}:${ep.spec.port}`, {
        connections: 1,
        connect: { timeout: this.policy.timeoutMs },
      });
      this.pools.set(ep.id, p);
    }
    return p;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
  }
}
