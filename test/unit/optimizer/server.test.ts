import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { DEFAULT_TUNING } from "../../../controllers/pod-autoscaler/annotations.js";
import { CALM, decideKpa } from "../../../controllers/pod-autoscaler/kpa.js";
import { externalValue } from "../../../controllers/pod-autoscaler/sources/external-endpoint.js";
import type { ModelDeployment } from "../../../optimizer/fleet.js";
import { startOptimizer, type RunningOptimizer } from "../../../optimizer/server.js";
import { RouterMetricsSource } from "../../../optimizer/signal-sources.js";
import { referenceProfiles } from "./reference-profiles.js";

const PROFILES = referenceProfiles({ A10G: {}, "A100-80GB": {} });
const deployment = (name: string, gpuType: string): ModelDeployment => ({
  namespace: "default",
  name,
  model: "m",
  gpuType,
  replicas: 1,
  readyReplicas: 1,
  minReplicas: 0,
  gpusPerReplica: 1,
});

/** A router's /metrics whose workload counter the test advances. */
class FakeRouterMetrics {
  counts: Record<string, number> = {};
  server = http.createServer((_req, res) => {
    const lines = Object.entries(this.counts).map(
      ([bucket, n]) => `aibrix_router_workload_requests_total{model="m",bucket="${bucket}"} ${n}`,
    );
    res.writeHead(200).end(lines.join("\n") + "\n");
  });
  add(bucket: string, n: number) {
    this.counts[bucket] = (this.counts[bucket] ?? 0) + n;
  }
  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

describe("optimizer service API", () => {
  const router = new FakeRouterMetrics();
  let opt: RunningOptimizer;
  const get = (path: string, method = "GET") => fetch(opt.url + path, { method });

  before(async () => {
    const url = await router.start();
    opt = await startOptimizer({
      profiles: PROFILES,
      deployments: [deployment("m-a10g", "A10G"), deployment("m-a100", "A100-80GB")],
      signal: new RouterMetricsSource([url]),
      autoTick: false,
      log: () => {},
    });
  });
  after(async () => {
    await opt.close();
    router.server.close();
  });

  it("reports current replicas × 100 before any traffic, then the solved mix for the reference workload", async () => {
    const res = await get("/metrics/default/m-a10g");
    expect(res.status).to.equal(200);
    expect(await res.text()).to.contain('vllm:deployment_replicas{model_name="m"} 100');
    // 10 s of the reference workload (λ = 30 req/s): [output][input] shares [[0.2, 0.1], [0.5, 0.2]].
    const t = 1_000_000;
    router.add("8-7", 60); // in 256, out 128
    router.add("10-7", 30);
    router.add("8-9", 150);
    router.add("10-9", 60);
    await opt.tick(t);
    const a10 = await (await get("/metrics/default/m-a10g")).text();
    const a100 = await (await get("/metrics/default/m-a100")).text();
    // The whole-replica plan {A10G: 1, A100-80GB: 1} ($4.68/h, hand-solved in the MILP's tests), × 100. A fractional
    // plan (0 and 1.13) would run as 0 and 2 A100s once the PodAutoscaler rounds up: $7.34/h.
    expect(a10).to.contain('vllm:deployment_replicas{model_name="m"} 100');
    expect(a100).to.contain('vllm:deployment_replicas{model_name="m"} 100');
    // What AIBrix's external PodAutoscaler (KPA, targetValue "100") makes of each answer, from 2 running pods.
    const paDesired = (text: string) => {
      const value = externalValue(text, "vllm:deployment_replicas")!;
      return decideKpa({
        nowMs: t * 1000,
        stableValue: value,
        panicValue: value,
        target: Number("100"),
        observedMs: 180_000,
        readyPods: 2,
        startingPods: 0,
        currentReplicas: 2,
        stableWindowMs: 180_000,
        bounds: { min: 0, max: 10 },
        tuning: DEFAULT_TUNING,
        state: CALM,
      }).desired;
    };
    expect([paDesired(a10), paDesired(a100)]).to.deep.equal([1, 1]);
    const prom = await (await get("/metrics")).text();
    expect(prom).to.match(/aibrix_optimizer_objective_dollars_per_hour\{model="m"\} [\d.]+/);
    expect(prom).to.contain('aibrix_optimizer_slo_feasible_coverage_ratio{model="m"} 1');
    expect(prom).to.contain('aibrix_optimizer_solves_total{model="m",result="feasible"} 1');
    const dash = await (await get("/dash/m")).text();
    expect(dash).to.contain("<svg").and.to.contain("m-a10g (A10G)");
  });

  it("answers upstream's monitor, update_profile and scale calls with upstream's messages", async () => {
    expect(await (await get("/monitor/default/m-a10g", "POST")).json()).to.deep.equal({
      message: "Deployment optimization already started",
    });
    expect(await (await get("/monitor/default/m-a10g", "DELETE")).json()).to.deep.equal({
      message: "Deployment optimization stopped",
    });
    expect((await get("/metrics/default/m-a10g")).status).to.equal(404);
    expect(await (await get("/monitor/default/m-a10g", "POST")).json()).to.deep.equal({
      message: "Deployment optimization started",
    });
    const missing = await get("/monitor/default/nope", "POST");
    expect(missing.status).to.equal(500);
    expect(((await missing.json()) as { error: string }).error).to.match(
      /Error starting deployment optimization: .*not found/,
    );
    expect(await (await get("/update_profile/m")).json()).to.deep.equal({ message: "workload profile of m updated" });
    expect((await get("/update_profile/other")).status).to.equal(404);
    expect((await get("/scale/default/m-a100/7", "POST")).status).to.equal(200);
    expect(await (await get("/metrics/default/m-a100")).text()).to.contain("} 700");
    const bad = await get("/scale/default/m-a100/-1", "POST");
    expect(bad.status).to.equal(400);
    expect((await get("/metrics/default/bad%2Fname")).status).to.equal(400);
  });
});
