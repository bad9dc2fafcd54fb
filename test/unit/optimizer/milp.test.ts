import { expect } from "chai";
import type { GpuProfile } from "../../../api/gpu-profile.js";
import {
  solveMix,
  throughputFor,
  type BucketLoad,
  type MilpInput,
  type MilpResult,
  type MilpSolution,
} from "../../../optimizer/milp.js";
import { profiles as benchProfiles, workload as benchWorkload } from "../../../bench/optimizer-solve/main.js";
import { seededRandom } from "../../support/seeded-random.js";

// The reference's check: buckets are [output][input], outputs 128/512 tokens, inputs 256/1024 tokens.
const OUTS = [128, 512];
const INS = [256, 1024];
const A10G: GpuProfile = {
  gpu: "A10G",
  cost: 1.01,
  tputs: [
    [2, 1],
    [5, 2],
  ],
  indexes: [OUTS, INS],
};
const A100: GpuProfile = {
  gpu: "A100-80GB",
  cost: 3.67,
  tputs: [
    [20, 20],
    [40, 20],
  ],
  indexes: [OUTS, INS],
};
const SHARES = [
  [0.2, 0.1],
  [0.5, 0.2],
];

function referenceLoad(totalRate = 30): BucketLoad[] {
  return SHARES.flatMap((row, o) =>
    row.map((w, i) => ({ inputTokens: INS[i]!, outputTokens: OUTS[o]!, rate: totalRate * w })),
  );
}

function solved(r: MilpResult): MilpSolution {
  if (!r.feasible) expect.fail(`expected a mix, got: ${r.reasons.join("; ")}`);
  return r;
}

/** Every bucket is fully served and no type carries more GPU-equivalents than its replicas. */
function expectServes(s: MilpSolution, profiles: GpuProfile[]): void {
  const used = new Map<string, number>();
  for (const a of s.assignments) {
    const total = Object.values(a.shares).reduce((x, y) => x + y, 0);
    expect(total, `shares of ${a.inputTokens}x${a.outputTokens}`).to.be.closeTo(1, 1e-9);
    for (const [gpu, share] of Object.entries(a.shares)) {
      const p = profiles.find((q) => q.gpu === gpu)!;
      const tput = throughputFor(p, a.inputTokens, a.outputTokens);
      used.set(gpu, (used.get(gpu) ?? 0) + (a.rate * share) / tput);
    }
  }
  for (const [gpu, load] of used) expect(load, gpu).to.be.at.most(s.replicas[gpu]! + 1e-9);
}

describe("optimizer MILP (HiGHS)", () => {
  it("solves the reference's A10G/A100 example to {A10G: 3, A100-80GB: 1}, $6.70/h with whole buckets", async () => {
    const s = solved(await solveMix({ profiles: [A10G, A100], load: referenceLoad(), sliceFactor: 1 }));
    expect(s.replicas).to.deep.equal({ A10G: 3, "A100-80GB": 1 });
    expect(s.costPerHour).to.be.closeTo(6.7, 1e-9);
    expect(s.optimal).to.equal(true);
    expectServes(s, [A10G, A100]);
    // Exactly one bucket goes to the A10Gs (each bucket needs all three of them).
    expect(s.assignments.filter((a) => a.shares.A10G === 1)).to.have.length(1);
  });

  it("proves the same mix with an exact gap", async () => {
    const s = solved(await solveMix({ profiles: [A10G, A100], load: referenceLoad(), sliceFactor: 1, relativeGap: 0 }));
    expect(s.replicas).to.deep.equal({ A10G: 3, "A100-80GB": 1 });
    expect(s.costPerHour).to.be.closeTo(6.7, 1e-9);
  });

  it("finer slices let a bucket split across types: 8 slices give {A10G: 2, A100-80GB: 1}, $5.69/h", async () => {
    // Hand-solved: one A100 holds 1 of the 1.125 A100-equivalents; the cheapest way to move the other 0.125 is three
    // eighths of the out-512/in-256 bucket (A10G load 1.125 → 2 GPUs); one A10G can move at most 0.094.
    const s = solved(await solveMix({ profiles: [A10G, A100], load: referenceLoad(), sliceFactor: 8 }));
    expect(s.replicas).to.deep.equal({ A10G: 2, "A100-80GB": 1 });
    expect(s.costPerHour).to.be.closeTo(5.69, 1e-9);
    expectServes(s, [A10G, A100]);
  });

  it("with continuous shares (the default) moves a third of one bucket: {A10G: 1, A100-80GB: 1}, $4.68/h", async () => {
    // Hand-solved: 1.125 A100-equivalents; one A100 holds 1. Whole replicas: 2 A100s cost $7.34, so move 0.125 off it.
    // The out-512/in-256 bucket moves cheapest (A10G needs 8 × its A100 load there, the others 10 or 20): 0.125 of
    // its 0.375 A100-equivalents, a third of its 15 req/s, is 5 req/s = exactly one A10G. $1.01 + $3.67.
    for (const relativeGap of [undefined, 0]) {
      const s = solved(
        await solveMix({
          profiles: [A10G, A100],
          load: referenceLoad(),
          ...(relativeGap === 0 ? { relativeGap } : {}),
        }),
      );
      expect(s.replicas).to.deep.equal({ A10G: 1, "A100-80GB": 1 });
      expect(s.costPerHour).to.be.closeTo(4.68, 1e-9);
      expectServes(s, [A10G, A100]);
      const moved = s.assignments.find((a) => a.outputTokens === 512 && a.inputTokens === 256)!;
      expect(moved.shares.A10G).to.be.closeTo(1 / 3, 1e-6);
      expect(s.assignments.filter((a) => a !== moved).every((a) => a.shares["A100-80GB"] === 1)).to.equal(true);
    }
  });

  it("on small fleets of 6 types × 64 buckets, a proven mix within the 1 % gap of the exact cheapest", async () => {
    // Small fleets are where the LP bound sits furthest under the cheapest whole mix, so the rounded incumbent and
    // the branch and bound after it both matter here.
    const gpus = benchProfiles();
    const next = seededRandom(7);
    for (let k = 0; k < 8; k++) {
      const load = benchWorkload(next).map((b) => ({ ...b, rate: b.rate / 5 }));
      const s = solved(await solveMix({ profiles: gpus, load }));
      const exact = solved(await solveMix({ profiles: gpus, load, relativeGap: 0 }));
      expect(s.optimal, `workload ${k}`).to.equal(true);
      expect(exact.optimal, `workload ${k}`).to.equal(true);
      for (const replicas of Object.values(s.replicas)) expect(Number.isInteger(replicas)).to.equal(true);
      expectServes(s, gpus);
      expectServes(exact, gpus);
      expect(s.costPerHour, `workload ${k}`).to.be.at.least(exact.costPerHour - 1e-9);
      expect(s.costPerHour, `workload ${k}`).to.be.at.most(exact.costPerHour * 1.01 + 1e-9);
    }
  });

  it("never costs more with continuous shares than with slices, which never cost more than whole buckets", async () => {
    for (const rate of [5, 12, 30, 47, 90]) {
      const cost = async (sliceFactor?: number) =>
        solved(
          await solveMix({
            profiles: [A10G, A100],
            load: referenceLoad(rate),
            relativeGap: 0,
            ...(sliceFactor ? { sliceFactor } : {}),
          }),
        ).costPerHour;
      const [continuous, eight, whole] = [await cost(), await cost(8), await cost(1)];
      expect(continuous, `λ ${rate}`).to.be.at.most(eight + 1e-9);
      expect(eight, `λ ${rate}`).to.be.at.most(whole + 1e-9);
    }
  });

  it("counts fractional replicas in 1/gpuFraction units: 1.13 A100s at gpuFraction 100", async () => {
    // All on A100: 1.125 GPU-equivalents → 113 hundredths; any A10G share costs 3 A10Gs ($3.03) to save ≤ $1.38.
    const load = referenceLoad();
    const s = solved(await solveMix({ profiles: [A10G, A100], load, gpuFraction: 100, sliceFactor: 1 }));
    expect(s.replicas).to.deep.equal({ A10G: 0, "A100-80GB": 1.13 });
    expect(s.costPerHour).to.be.closeTo(3.67 * 1.13, 1e-9);
  });

  it("returns the per-type minimums at zero load", async () => {
    const load = referenceLoad(0);
    const s = solved(await solveMix({ profiles: [A10G, A100], load, limits: { A10G: { minReplicas: 2 } } }));
    expect(s.replicas).to.deep.equal({ A10G: 2, "A100-80GB": 0 });
    expect(s.costPerHour).to.be.closeTo(2.02, 1e-9);
    expect(s.assignments).to.deep.equal([]);
  });

  it("keeps a per-type minimum when load is present and uses it", async () => {
    const s = solved(
      await solveMix({ profiles: [A10G, A100], load: referenceLoad(), limits: { "A100-80GB": { minReplicas: 2 } } }),
    );
    expect(s.replicas).to.deep.equal({ A10G: 0, "A100-80GB": 2 });
    expect(s.costPerHour).to.be.closeTo(7.34, 1e-9);
  });

  it("respects a per-type maximum: A100 capped at 0 puts everything on 12 A10Gs", async () => {
    const limits = { "A100-80GB": { maxReplicas: 0 } };
    const s = solved(await solveMix({ profiles: [A10G, A100], load: referenceLoad(), limits }));
    expect(s.replicas).to.deep.equal({ A10G: 12, "A100-80GB": 0 });
    expect(s.costPerHour).to.be.closeTo(12.12, 1e-9);
  });

  it("bounds a type by its running replicas plus the cluster's free GPUs", async () => {
    // 2-GPU A100 replicas with 1 GPU free: none running → no A100 at all; one running → it may stay.
    const none = { "A100-80GB": { currentReplicas: 0, freeGpus: 1, gpusPerReplica: 2 } };
    const s = solved(await solveMix({ profiles: [A10G, A100], load: referenceLoad(), limits: none }));
    expect(s.replicas).to.deep.equal({ A10G: 12, "A100-80GB": 0 });
    const one = { "A100-80GB": { currentReplicas: 1, freeGpus: 1, gpusPerReplica: 2 } };
    const t = solved(await solveMix({ profiles: [A10G, A100], load: referenceLoad(60), limits: one }));
    // At 60 req/s one A100 holds 1 of 2.25 A100-equivalents: the A10Gs take buckets until the rest fits.
    expect(t.replicas["A100-80GB"]).to.equal(1);
    expectServes(t, [A10G, A100]);
  });

  it("names a bucket no GPU type can serve within the SLO", async () => {
    const load = [...referenceLoad(), { inputTokens: 4096, outputTokens: 128, rate: 1 }];
    const r = await solveMix({ profiles: [A10G, A100], load });
    expect(r.feasible).to.equal(false);
    if (r.feasible) return;
    expect(r.reasons).to.have.length(1);
    expect(r.reasons[0])
      .to.match(/input 4096 × output 128 tokens/)
      .and.match(/no GPU type/);
  });

  it("names a bucket whose throughput is 0 on every type", async () => {
    const slow: GpuProfile = {
      ...A10G,
      tputs: [
        [2, 0],
        [5, 2],
      ],
    };
    const none: GpuProfile = {
      ...A100,
      tputs: [
        [20, 0],
        [40, 20],
      ],
    };
    const r = await solveMix({ profiles: [slow, none], load: referenceLoad() });
    expect(r.feasible).to.equal(false);
    if (r.feasible) return;
    expect(r.reasons.join("\n")).to.match(/input 1024 × output 128 tokens \(3 req\/s\)/);
  });

  it("names the buckets that overflow every type's capacity limit", async () => {
    // In hundredths: A10G ≤ 200 units and A100 ≤ 10, while every bucket needs ≥ 15 A100 or 300 A10G units.
    const limits = { A10G: { maxReplicas: 2 }, "A100-80GB": { maxReplicas: 0.1 } };
    const r = await solveMix({ profiles: [A10G, A100], load: referenceLoad(), limits, gpuFraction: 100 });
    expect(r.feasible).to.equal(false);
    if (r.feasible) return;
    expect(r.reasons).to.have.length(4);
    for (const reason of r.reasons) expect(reason).to.match(/exceeds the capacity limit/);
  });

  it("reports combined load beyond the limits when each bucket fits alone", async () => {
    const limits = { A10G: { maxReplicas: 3 }, "A100-80GB": { maxReplicas: 1 } };
    const r = await solveMix({ profiles: [A10G, A100], load: referenceLoad(60), limits });
    expect(r.feasible).to.equal(false);
    if (r.feasible) return;
    expect(r.reasons.join("\n")).to.match(/combined load exceeds the capacity limits \(A10G ≤ 3, A100-80GB ≤ 1\)/);
  });

  it("names a type whose minimum exceeds its limit", async () => {
    const limits = { A10G: { minReplicas: 3, maxReplicas: 5, freeGpus: 2 } };
    const r = await solveMix({ profiles: [A10G, A100], load: referenceLoad(), limits });
    expect(r.feasible).to.equal(false);
    if (r.feasible) return;
    expect(r.reasons.join("\n")).to.match(/GPU type A10G: minimum 3 replicas exceeds its limit of 2/);
  });

  it("rejects bad parameters naming the field", async () => {
    const base = { profiles: [A10G, A100], load: referenceLoad() };
    const cases: [MilpInput, string][] = [
      [{ ...base, sliceFactor: 0 }, "sliceFactor"],
      [{ ...base, gpuFraction: 1.5 }, "gpuFraction"],
      [{ ...base, relativeGap: -0.1 }, "relativeGap"],
      [{ ...base, load: [{ inputTokens: 1, outputTokens: 1, rate: -1 }] }, "load\\[0\\].rate"],
      [{ ...base, profiles: [A10G, A10G] }, "A10G"],
    ];
    for (const [bad, field] of cases) {
      let error: unknown;
      await solveMix(bad).catch((e: unknown) => (error = e));
      expect(error, field).to.be.instanceOf(RangeError);
      expect((error as Error).message).to.match(new RegExp(field));
    }
  });

  it("looks up a shape in the smallest profiled bucket at or above it", () => {
    expect(throughputFor(A10G, 200, 100)).to.equal(2);
    expect(throughputFor(A10G, 300, 100)).to.equal(1);
    expect(throughputFor(A10G, 256, 129)).to.equal(5);
    expect(throughputFor(A10G, 1025, 128)).to.equal(0);
    expect(throughputFor(A10G, 256, 513)).to.equal(0);
  });
});
