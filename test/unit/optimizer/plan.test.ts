import { expect } from "chai";
import { loadProfilesFile } from "../../../api/gpu-profile.js";
import { solveMix } from "../../../optimizer/milp.js";
import { freeGpusByType, modelDeployment, type Deployment, type ModelDeployment } from "../../../optimizer/fleet.js";
import { planModel } from "../../../optimizer/plan.js";
import type { WindowRates } from "../../../optimizer/window.js";
import { INS, OUTS, referenceProfiles } from "./reference-profiles.js";

const PROFILES = referenceProfiles({
  A10G: { products: ["NVIDIA-A10G"] },
  "A100-80GB": { products: ["NVIDIA-A100-SXM4-80GB"] },
});

function deployment(name: string, product: string | undefined, extra: Partial<ModelDeployment> = {}): ModelDeployment {
  const d: Deployment = {
    metadata: { namespace: "default", name, labels: { "model.aibrix.ai/name": "m" } },
    spec: {
      replicas: 1,
      template: {
        spec: {
          ...(product ? { nodeSelector: { "nvidia.com/gpu.product": product } } : {}),
          containers: [{ resources: { limits: { "nvidia.com/gpu": "1" } } }],
        },
      },
    },
  };
  return { ...modelDeployment(d, PROFILES)!, ...extra };
}

/** The reference's workload: shares [[0.2, 0.1], [0.5, 0.2]] of λ = 30 req/s ([output][input]). */
function referenceRates(total = 30): WindowRates {
  const shares = [
    [0.2, 0.1],
    [0.5, 0.2],
  ];
  const buckets = shares.flatMap((row, o) =>
    row.map((w, i) => ({ inputTokens: INS[i]!, outputTokens: OUTS[o]!, rate: total * w })),
  );
  return { totalRate: total, meanRate: total, currentRate: total, buckets };
}

describe("optimizer plan", () => {
  it("resolves each Deployment's GPU type from its node selector, or from its name as upstream does", () => {
    expect(deployment("llama-a10", "NVIDIA-A10G").gpuType).to.equal("A10G");
    expect(deployment("A100-80GB", undefined).gpuType).to.equal("A100-80GB");
    const lost = deployment("llama-h100", "NVIDIA-H100");
    expect(lost.gpuType).to.equal(undefined);
    expect(lost.unresolved).to.match(/no profile of model m for GPU NVIDIA-H100.*A10G, A100-80GB/);
  });

  it("solves the reference example per Deployment: {A10G: 3, A100-80GB: 1}, 6.70 $/h", async () => {
    const plan = await planModel({
      model: "m",
      deployments: [deployment("m-a10g", "NVIDIA-A10G"), deployment("m-a100", "NVIDIA-A100-SXM4-80GB")],
      profiles: PROFILES,
      rates: referenceRates(),
      gpuFraction: 1,
      sliceFactor: 1,
    });
    expect(plan.feasible).to.equal(true);
    expect(plan.byDeployment).to.deep.equal({ "default/m-a10g": 3, "default/m-a100": 1 });
    expect(plan.costPerHour).to.be.closeTo(6.7, 1e-9);
    expect(plan.coverage).to.equal(1);
  });

  it("plans whole replicas with continuous shares by default: {A10G: 1, A100-80GB: 1}, 4.68 $/h", async () => {
    // Hand-solved in the MILP's tests. The old default (hundredths, whole buckets) gave {A10G: 0, A100-80GB: 1.13},
    // which the per-type PodAutoscalers run as 2 A100s ($7.34/h).
    const plan = await planModel({
      model: "m",
      deployments: [deployment("m-a10g", "NVIDIA-A10G"), deployment("m-a100", "NVIDIA-A100-SXM4-80GB")],
      profiles: PROFILES,
      rates: referenceRates(),
    });
    expect(plan.byDeployment).to.deep.equal({ "default/m-a10g": 1, "default/m-a100": 1 });
    expect(plan.costPerHour).to.be.closeTo(4.68, 1e-9);
    expect(plan.optimal).to.equal(true);
    expect(plan.assignments).to.have.length(4);
  });

  it("splits a type's whole replicas over its Deployments in whole numbers", async () => {
    const plan = await planModel({
      model: "m",
      deployments: [
        deployment("m-a10g", "NVIDIA-A10G"),
        deployment("m-a100-a", "NVIDIA-A100-SXM4-80GB"),
        deployment("m-a100-b", "NVIDIA-A100-SXM4-80GB"),
      ],
      profiles: PROFILES,
      rates: referenceRates(90),
    });
    const counts = Object.values(plan.byDeployment);
    expect(
      counts.every((n) => Number.isInteger(n)),
      JSON.stringify(plan.byDeployment),
    ).to.equal(true);
    const a100 = plan.byDeployment["default/m-a100-a"]! + plan.byDeployment["default/m-a100-b"]!;
    expect(a100).to.equal(plan.byType["A100-80GB"]);
    expect(Math.abs(plan.byDeployment["default/m-a100-a"]! - plan.byDeployment["default/m-a100-b"]!)).to.be.at.most(1);
  });

  it("leaves out buckets no type serves and reports the coverage and the bucket", async () => {
    const rates = referenceRates();
    rates.buckets.push({ inputTokens: 4096, outputTokens: 128, rate: 10 });
    const plan = await planModel({
      model: "m",
      deployments: [deployment("m-a10g", "NVIDIA-A10G"), deployment("m-a100", "NVIDIA-A100-SXM4-80GB")],
      profiles: PROFILES,
      rates,
      gpuFraction: 1,
      sliceFactor: 1,
    });
    expect(plan.feasible).to.equal(true);
    expect(plan.coverage).to.be.closeTo(30 / 40, 1e-9);
    expect(plan.reasons.join()).to.match(/input 4096 × output 128 tokens.*no profiled GPU type meets the SLO/);
    expect(plan.byType).to.deep.equal({ A10G: 3, "A100-80GB": 1 });
  });

  it("holds each type to the cluster's free GPUs: with one A10G free the load moves to A100s", async () => {
    const plan = await planModel({
      model: "m",
      deployments: [
        deployment("m-a10g", "NVIDIA-A10G", { replicas: 0 }),
        deployment("m-a100", "NVIDIA-A100-SXM4-80GB", { replicas: 0 }),
      ],
      profiles: PROFILES,
      freeGpus: { A10G: 1, "A100-80GB": 8 },
      rates: referenceRates(),
      gpuFraction: 1,
      sliceFactor: 1,
    });
    expect(plan.feasible).to.equal(true);
    expect(plan.byType.A10G).to.be.at.most(1);
    expect(plan.byType["A100-80GB"]).to.be.at.least(2);
  });

  it("zero load keeps the min_replicas label's floor; an unprofiled fleet is infeasible with a reason", async () => {
    const zero = await planModel({
      model: "m",
      deployments: [
        deployment("m-a10g", "NVIDIA-A10G", { minReplicas: 2 }),
        deployment("m-a100", "NVIDIA-A100-SXM4-80GB"),
      ],
      profiles: PROFILES,
      rates: { totalRate: 0, meanRate: 0, currentRate: 0, buckets: [] },
      gpuFraction: 100,
      sliceFactor: 1,
    });
    expect(zero.byDeployment).to.deep.equal({ "default/m-a10g": 2, "default/m-a100": 0 });
    const none = await planModel({
      model: "m",
      deployments: [deployment("m-h100", "NVIDIA-H100")],
      profiles: PROFILES,
      rates: referenceRates(),
      gpuFraction: 100,
      sliceFactor: 1,
    });
    expect(none.feasible).to.equal(false);
    expect(none.reasons[0]).to.match(/no Deployment runs on a profiled GPU type/);
  });

  it("counts free GPUs per type from node allocatable minus live bound pods", () => {
    const node = (name: string, product: string, gpus: string) => ({
      metadata: { name, labels: { "nvidia.com/gpu.product": product } },
      status: { allocatable: { "nvidia.com/gpu": gpus } },
    });
    const pod = (nodeName: string, gpus: string, phase = "Running") => ({
      spec: { nodeName, containers: [{ resources: { limits: { "nvidia.com/gpu": gpus } } }] },
      status: { phase },
    });
    const free = freeGpusByType(
      [node("a", "NVIDIA-A10G", "4"), node("b", "NVIDIA-A100-SXM4-80GB", "8"), node("c", "NVIDIA-A10G", "4")],
      [pod("a", "2"), pod("b", "8"), pod("c", "4", "Succeeded")],
      PROFILES,
    );
    expect(free).to.deep.equal({ A10G: 6, "A100-80GB": 0 });
  });
});

describe("shipped profiles", () => {
  it("the simulator GPU types' document validates, carries its SLO, and gives a mix for a chat workload", async () => {
    const set = await loadProfilesFile(
      new URL("../../../optimizer/profiles/simulator-llama-3.1-8b.yaml", import.meta.url).pathname,
    );
    const profiles = set.doc.models["llama-3.1-8b"]!.profiles;
    expect(profiles.map((p) => p.gpu)).to.include.members(["L4", "A10G", "L40S", "A100-80GB"]);
    for (const p of profiles) expect(p.slos).to.deep.equal({ percentile: 99, ttft: 2, tpot: 0.1 });
    const mix = await solveMix({ profiles, load: [{ inputTokens: 256, outputTokens: 128, rate: 10 }] });
    expect(mix.feasible).to.equal(true);
  });
});
