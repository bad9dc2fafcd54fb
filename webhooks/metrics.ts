// Admission counters and latency by webhook path and outcome, on a registry of our own (several servers can live
// in one test process without clashing).
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export type Outcome = "allowed" | "patched" | "denied" | "bad_request" | "error";

export class WebhookMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: "aibrix_webhook_admission_requests_total",
    help: "Admission requests answered, by webhook path and outcome.",
    labelNames: ["webhook", "outcome"] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: "aibrix_webhook_admission_duration_seconds",
    help: "Time from request body received to response written, by webhook path and outcome.",
    labelNames: ["webhook", "outcome"] as const,
    buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly certificateExpiry = new Gauge({
    name: "aibrix_webhook_certificate_expiry_timestamp_seconds",
    help: "notAfter of the serving certificate in use, as a Unix timestamp.",
    registers: [this.registry],
  });
  readonly certificateReloads = new Counter({
    name: "aibrix_webhook_certificate_reloads_total",
    help: "Times the TLS server switched to a renewed certificate without restarting.",
    registers: [this.registry],
  });

  observe(webhook: string, outcome: Outcome, seconds: number): void {
    this.requests.inc({ webhook, outcome });
    this.duration.observe({ webhook, outcome }, seconds);
  }
}
