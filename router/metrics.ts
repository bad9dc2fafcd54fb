// The router's own Prometheus metrics.
import { Counter, Histogram, Registry } from "prom-client";

export class RouterMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "aibrix_router_requests_total",
    help: "Requests by model, HTTP status and routing strategy",
    labelNames: ["model", "status", "strategy"] as const,
    registers: [this.registry],
  });
  readonly decisionSeconds = new Histogram({
    name: "aibrix_router_routing_decision_seconds",
    help: "Time spent picking an endpoint",
    labelNames: ["strategy"] as const,
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01],
    registers: [this.registry],
  });
  readonly upstreamTtft = new Histogram({
    name: "aibrix_router_upstream_ttft_seconds",
    help: "Time from sending to an engine to its first response byte",
    labelNames: ["model"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: "aibrix_router_retries_total",
    help: "Requests re-sent to another endpoint after a failure before the first byte",
    labelNames: ["model", "reason"] as const,
    registers: [this.registry],
  });
  readonly ejections = new Counter({
    name: "aibrix_router_ejections_total",
    help: "Endpoints ejected for a cool-down after consecutive failures",
    labelNames: ["endpoint"] as const,
    registers: [this.registry],
  });
  readonly streamErrors = new Counter({
    name: "aibrix_router_stream_errors_total",
    help: "Upstream failures after the first byte (stream ended with an error event)",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
}
