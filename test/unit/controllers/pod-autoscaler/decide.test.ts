import { expect } from "chai";
import fc from "fast-check";
import { parseTuning } from "../../../../controllers/pod-autoscaler/annotations.js";
import { decideTick, freshMemory, type PodAutoscaler } from "../../../../controllers/pod-autoscaler/decide.js";
import type { PodStanding } from "../../../../controllers/pod-autoscaler/pods.js";
import { autoscaler, makePod, T0 } from "./world.js";

/** Replays per-pod values (undefined: no answer) through decideTick, pods following the replicas it asks for. */
function replay(pa: PodAutoscaler, loads: readonly (number | undefined)[], start: number) {
  const { tuning } = parseTuning(pa.metadata?.annotations);
  let memory = freshMemory(pa);
  let replicas = start;
  const out: { replicas: number; desired: number; panicking: boolean }[] = [];
  loads.forEach((load, i) => {
    const pods: PodStanding[] = Array.from({ length: replicas }, (_, k) => ({
      pod: makePod(`p${k}`, "llama"),
      name: `p${k}`,
      ready: true,
      terminating: false,
      warmingUp: false,
      startingUp: false,
    }));
    const values = new Map(pods.map((p) => [p.name, load]));
    const d = decideTick({
      pa,
      tuning,
      nowMs: T0 + i * 10_000,
      replicas,
      pods,
      readings: [{ kind: "pods", values }],
      memory,
    });
    out.push({ replicas, desired: d.desired, panicking: d.panicking });
    memory = d.memory;
    replicas = d.desired;
  });
  return out;
}

const loadsArb = fc.array(fc.option(fc.double({ min: 0, max: 500, noNaN: true }), { nil: undefined }), {
  minLength: 1,
  maxLength: 60,
});
const paArb = fc
  .record({
    min: fc.integer({ min: 1, max: 5 }),
    span: fc.integer({ min: 0, max: 30 }),
    strategy: fc.constantFrom("KPA" as const, "APA" as const),
    down: fc.constantFrom("0s", "30s", "300s"),
  })
  .map(({ min, span, strategy, down }) =>
    autoscaler(
      "pa",
      { minReplicas: min, maxReplicas: min + span, scalingStrategy: strategy },
      { "autoscaling.aibrix.ai/scale-down-cooldown-window": down },
    ),
  );

describe("pod-autoscaler tick (properties over recorded windows)", () => {
  it("property: replicas always end within the bounds", () => {
    fc.assert(
      fc.property(paArb, loadsArb, fc.integer({ min: 0, max: 40 }), (pa, loads, start) => {
        for (const t of replay(pa, loads, Math.max(1, start))) {
          expect(t.desired).to.be.within(pa.spec.minReplicas!, pa.spec.maxReplicas);
        }
      }),
    );
  });

  it("property: no scale-down while panicking (unless above max)", () => {
    fc.assert(
      fc.property(paArb, loadsArb, (pa, loads) => {
        for (const t of replay(pa, loads, pa.spec.minReplicas!)) {
          if (t.panicking && t.replicas <= pa.spec.maxReplicas) expect(t.desired).to.be.at.least(t.replicas);
        }
      }),
    );
  });

  it("property: identical inputs give identical decisions", () => {
    fc.assert(
      fc.property(paArb, loadsArb, (pa, loads) => {
        expect(replay(pa, loads, 2)).to.deep.equal(replay(pa, loads, 2));
      }),
    );
  });

  it("property: ticks with no answer never lower replicas", () => {
    fc.assert(
      fc.property(paArb, loadsArb, (pa, loads) => {
        for (const t of replay(pa, loads, 3).filter((_, i) => loads[i] === undefined)) {
          if (t.replicas <= pa.spec.maxReplicas && t.replicas >= pa.spec.minReplicas!)
            expect(t.desired).to.equal(t.replicas);
        }
      }),
    );
  });

  it("a fresh KPA memory (new PodAutoscaler, restarted controller) cuts nothing until one observe window has passed", () => {
    // 60 s observe window, 10 s ticks, no cooldown: an idle fleet of 4 is held for the first 60 s of samples, then falls.
    const pa = autoscaler("pa", {}, { "autoscaling.aibrix.ai/scale-down-cooldown-window": "0s" });
    const out = replay(pa, Array(10).fill(0), 4);
    expect(out.slice(0, 6).map((t) => t.desired)).to.deep.equal([4, 4, 4, 4, 4, 4]);
    expect(out[6]!.desired).to.be.below(4);
  });
});
