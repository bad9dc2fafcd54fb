// The optimizer's own Prometheus metrics: how long solves take, what the chosen mix costs, how much of the workload a
// profiled GPU type can serve within the SLO, and the replicas it asks for.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ModelPlan } from "./plan.js";

export class OptimizerMetrics {
  readonly registry = new Registry();
  private readonly solveSeconds = new Histogram({
    name: "aibrix_optimizer_solve_seconds",
    help: "Time to solve one model's GPU mix (HiGHS)",
    labelNames: ["model"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  private readonly solves = new Counter({
    name: "aibrix_optimizer_solves_total",
    help: "Solves by model and result (feasible, infeasible)",
    labelNames: ["model", "result"],
    registers: [this.registry],
  });
  private readonly objective = new Gauge({
    name: "aibrix_optimizer_objective_dollars_per_hour",
    help: "Cost of the recommended mix, $/h",
    labelNames: ["model"],
    registers: [this.registry],
  });
  private readonly coverage = new Gauge({
    name: "aibrix_optimizer_slo_feasible_coverage_ratio",
    help: "Share of the workload rate in buckets some profiled GPU type serves within the SLO",
    labelNames: ["model"],
    registers: [this.registry],
  });
  private readonly rate = new Gauge({
    name: "aibrix_optimizer_workload_rate",
    help: "Request rate the plan was sized for (λ), req/s",
    labelNames: ["model"],
    registers: [this.registry],
  });
  private readonly replicas = new Gauge({
    name: "aibrix_optimizer_recommended_replicas",
    help: "Replicas recommended per model and GPU type (fractional)",
    labelNames: ["model", "gpu"],
    registers: [this.registry],
  });
  private readonly errorCount = new Counter({
    name: "aibrix_optimizer_errors_total",
    help: "Errors in the optimizer's rounds (profiles, fleet, workload signal, solves, publication)",
    registers: [this.registry],
  });

  observePlan(plan: ModelPlan): void {
    const model = plan.model;
    this.solveSeconds.observe({ model }, plan.solveMs / 1000);
    this.solves.inc({ model, result: plan.feasible ? "feasible" : "infeasible" });
    this.coverage.set({ model }, plan.coverage);
    this.rate.set({ model }, plan.rate);
    if (!plan.feasible) return;
    this.objective.set({ model }, plan.costPerHour);
    for (const [gpu, n] of Object.entries(plan.byType)) this.replicas.set({ model, gpu }, n);
  }

  errors(n: number): void {
    if (n > 0) this.errorCount.inc(n);
  }
}
