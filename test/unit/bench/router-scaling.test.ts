import { expect } from "chai";
import { cpusFor, summariseScaling, type ScalingRound } from "../../../bench/router-overhead/scaling.js";

const round = (router: string, cores: number, max_rps: number, cpu = 100): ScalingRound => ({
  router,
  cores,
  cpus: cpusFor(cores),
  max_rps,
  cpu_us_per_req: cpu,
  threads: cores,
});

describe("router-overhead scaling with cores", () => {
  it("pins one core to cpu 1 and two to cpus 0-1", () => {
    expect([cpusFor(1), cpusFor(2)]).to.deep.equal(["1", "0-1"]);
  });

  it("takes medians over rounds per router and core count, and compares ours with each peer at each", () => {
    const rounds = [
      ...[1000, 1200, 1100].map((r) => round("aibrix-ts", 1, r)),
      ...[1800, 2000, 2200].map((r) => round("aibrix-ts", 2, r, 120)),
      ...[2000, 2100, 1900].map((r) => round("vllm-router", 1, r)),
      ...[4000, 3900, 4100].map((r) => round("vllm-router", 2, r)),
    ];
    const { results, summary } = summariseScaling(rounds);
    expect(results.find((r) => r.router === "aibrix-ts" && r.cores === 2)).to.deep.include({
      max_rps: 2000,
      max_rps_spread: 400,
      cpu_us_per_req: 120,
      rounds: 3,
    });
    expect(summary).to.deep.equal({
      max_rps_1_core: 1100,
      max_rps_2_cores: 2000,
      scaling_2_over_1_cores: 1.818,
      max_rps_1_core_vllm_router: 2000,
      max_rps_2_cores_vllm_router: 4000,
      scaling_2_over_1_cores_vllm_router: 2,
      max_rps_1_core_x_vllm_router: 0.55,
      max_rps_2_cores_x_vllm_router: 0.5,
    });
  });

  it("leaves out a ratio whose arm was not measured", () => {
    const { summary } = summariseScaling([round("aibrix-ts", 1, 1000), round("sglang-router", 1, 900)]);
    expect(summary).to.deep.equal({ max_rps_1_core: 1000, max_rps_1_core_sglang_router: 900 });
  });
});
