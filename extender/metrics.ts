// Extender metrics on a registry of its own (several deployables may share a process in tests).
import { Counter, Histogram, Registry } from "prom-client";
import type { ReasonCode } from "./policy.js";

export type Verb = "filter" | "prioritize" | "bind" | "preempt";
/** `managed`: placed by policy; `passthrough`: not a model GPU pod; `error`: malformed input or failed bind. */
export type Outcome = "managed" | "passthrough" | "error" | "bound";

export class ExtenderMetrics {
  readonly registry = new Registry();
  private readonly decisions = new Counter({
    name: "aibrix_extender_decisions_total",
    help: "Extender calls by verb and outcome",
    labelNames: ["verb", "outcome"] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: "aibrix_extender_request_duration_seconds",
    help: "Time from request body received to response written, by verb",
    labelNames: ["verb"] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  private readonly filtered = new Counter({
    name: "aibrix_extender_filtered_nodes_total",
    help: "Nodes filtered out, by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  /** The API server's share of a bind: the Binding POST alone, so a slow bind shows whether it waited there. */
  readonly bindingPost = new Histogram({
    name: "aibrix_extender_binding_post_duration_seconds",
    help: "Time from posting a pod's Binding to the API server's answer",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly reloads = new Counter({
    name: "aibrix_extender_config_reloads_total",
    help: "Profile and recommendation reloads by source and result",
    labelNames: ["source", "result"] as const,
    registers: [this.registry],
  });

  decision(verb: Verb, outcome: Outcome, seconds: number): void {
    this.decisions.labels(verb, outcome).inc();
    this.latency.labels(verb).observe(seconds);
  }

  filteredOut(reasons: Map<ReasonCode, number>): void {
    for (const [reason, n] of reasons) this.filtered.labels(reason).inc(n);
  }
}
