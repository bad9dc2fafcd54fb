// GET /dash/{model}: one page a person can look at — the recommended replicas per Deployment, the window's request
// rate per token-shape bucket as bars, and why anything was left out. Refreshes itself every interval.
import type { ModelDeployment } from "./fleet.js";
import type { ModelPlan } from "./plan.js";
import type { WindowRates } from "./window.js";

export interface DashboardModel {
  model: string;
  deployments: (ModelDeployment & { recommendedReplicas: number })[];
  rates?: WindowRates;
  plan?: ModelPlan;
}

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function bars(rows: { label: string; value: number }[], unit: string): string {
  const max = Math.max(1e-9, ...rows.map((r) => r.value));
  const h = 18;
  const body = rows
    .map((r, i) => {
      const w = Math.round((r.value / max) * 400);
      const y = i * h;
      return (
        `<text x="0" y="${y + 13}" font-size="12">${escape(r.label)}</text>` +
        `<rect x="170" y="${y + 2}" width="${w}" height="${h - 4}" fill="#4477aa"/>` +
        `<text x="${175 + w}" y="${y + 13}" font-size="12">${r.value.toFixed(2)} ${unit}</text>`
      );
    })
    .join("");
  return `<svg width="680" height="${rows.length * h + 4}" xmlns="http://www.w3.org/2000/svg">${body}</svg>`;
}

export function renderDashboard(m: DashboardModel): string {
  const plan = m.plan;
  const replicas = m.deployments.map((d) => ({
    label: `${d.name} (${d.gpuType ?? "unprofiled"})`,
    value: d.recommendedReplicas,
  }));
  const buckets = (m.rates?.buckets ?? []).map((b) => ({
    label: `in ${b.inputTokens} × out ${b.outputTokens}`,
    value: b.rate,
  }));
  const summary = plan
    ? `${plan.feasible ? "feasible" : "no feasible mix"} · ${plan.costPerHour.toFixed(2)} $/h · λ ${plan.rate.toFixed(2)} req/s · ` +
      `SLO-feasible coverage ${(plan.coverage * 100).toFixed(1)} % · solved in ${plan.solveMs.toFixed(1)} ms`
    : "not solved yet";
  const reasons = (plan?.reasons ?? []).map((r) => `<li>${escape(r)}</li>`).join("");
  return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>${escape(m.model)} · GPU optimizer</title></head>
<body style="font-family:sans-serif">
<h1>${escape(m.model)}</h1><p>${escape(summary)}</p>
<h2>Recommended replicas</h2>${bars(replicas, "replicas")}
<h2>Workload (window)</h2>${buckets.length ? bars(buckets, "req/s") : "<p>no requests in the window</p>"}
${reasons ? `<h2>Left out / why</h2><ul>${reasons}</ul>` : ""}
</body></html>`;
}
