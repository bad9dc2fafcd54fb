import { expect } from "chai";
import fc from "fast-check";
import { DEFAULT_TUNING, type AutoscalerTuning } from "../../../../controllers/pod-autoscaler/annotations.js";
import { CALM, decideKpa, type KpaInput, type KpaState } from "../../../../controllers/pod-autoscaler/kpa.js";
import {
  recordSample,
  stabilise,
  tickValue,
  windowAverage,
  type MetricWindow,
  type Recommendation,
} from "../../../../controllers/pod-autoscaler/window.js";

const STABLE_MS = 180_000;
const PANIC_MS = 60_000;

function input(over: Partial<KpaInput>): KpaInput {
  return {
    nowMs: 1_000_000,
    stableValue: 0,
    panicValue: 0,
    target: 10,
    observedMs: STABLE_MS,
    readyPods: 1,
    startingPods: 0,
    currentReplicas: 1,
    stableWindowMs: STABLE_MS,
    bounds: { min: 1, max: 100 },
    tuning: DEFAULT_TUNING,
    state: CALM,
    ...over,
  };
}

/** Replays per-tick totals (undefined = missing) through the window and KPA, feeding replicas and state forward. */
function replay(
  totals: readonly (number | undefined)[],
  opts: { start: number; bounds: { min: number; max: number }; tuning?: AutoscalerTuning; readyShare?: number },
) {
  let window: MetricWindow = [];
  let state: KpaState = CALM;
  let replicas = opts.start;
  const out: { desired: number; panicking: boolean; before: number; tuning: AutoscalerTuning }[] = [];
  totals.forEach((total, i) => {
    const nowMs = i * 10_000;
    window = recordSample(window, nowMs, total, STABLE_MS);
    const d = decideKpa(
      input({
        nowMs,
        stableValue: windowAverage(window, nowMs, STABLE_MS),
        panicValue: windowAverage(window, nowMs, PANIC_MS),
        observedMs: nowMs,
        // The rest of the replicas are still starting: they widen the growth limit but carry no load.
        readyPods: Math.floor(replicas * (opts.readyShare ?? 1)),
        startingPods: replicas - Math.floor(replicas * (opts.readyShare ?? 1)),
        currentReplicas: replicas,
        bounds: opts.bounds,
        tuning: opts.tuning ?? DEFAULT_TUNING,
        state,
      }),
    );
    out.push({ desired: d.desired, panicking: d.panicking, before: replicas, tuning: opts.tuning ?? DEFAULT_TUNING });
    state = d.state;
    replicas = d.desired;
  });
  return out;
}

const tuningArb = fc.record({
  maxScaleUpRate: fc.double({ min: 1, max: 10, noNaN: true }),
  maxScaleDownRate: fc.double({ min: 1, max: 10, noNaN: true }),
  scaleUpTolerance: fc.double({ min: 0, max: 0.5, noNaN: true }),
  scaleDownTolerance: fc.double({ min: 0, max: 0.5, noNaN: true }),
  panicThreshold: fc.double({ min: 1.01, max: 5, noNaN: true }),
  scaleUpCooldownMs: fc.constant(0),
  scaleDownCooldownMs: fc.constant(300_000),
  scaleToZero: fc.boolean(),
});
const boundsArb = fc
  .tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 50 }))
  .filter(([min, max]) => min <= max)
  .map(([min, max]) => ({ min, max }));
const startArb = fc.integer({ min: 0, max: 50 });
/** The share of the replicas that is Ready; the others are still starting. */
const shareArb = fc.constantFrom(1, 0.5, 0);
const totalsArb = fc.array(fc.option(fc.double({ min: 0, max: 5000, noNaN: true }), { nil: undefined }), {
  minLength: 1,
  maxLength: 60,
});

describe("pod-autoscaler KPA", () => {
  it("sizes the fleet from the TOTAL across pods: 10 pods at 50 each with target 10 want 50, not 5", () => {
    // Upstream fed the cross-pod average (50) into ceil(V/T) and asked for 5 pods whatever the fleet carried.
    const pods = Array.from({ length: 10 }, (_, i) => ({
      pod: `p${i}`,
      ready: true,
      terminating: false,
      warmingUp: false,
      value: 50,
    }));
    const tick = tickValue(pods);
    expect(tick?.total).to.equal(500);
    const d = decideKpa(
      input({
        stableValue: tick!.total,
        panicValue: tick!.total,
        readyPods: 10,
        currentReplicas: 10,
        tuning: { ...DEFAULT_TUNING, maxScaleUpRate: 10 },
      }),
    );
    expect(d.desired).to.equal(50);
  });

  it("does not enter panic at zero load", () => {
    const d = decideKpa(input({ stableValue: 0, panicValue: 0, currentReplicas: 3, readyPods: 3 }));
    expect(d.panicking).to.equal(false);
    expect(d.state.panicSinceMs).to.equal(undefined);
  });

  it("panics on a burst from idle and never scales down until a full stable window passes without the trigger", () => {
    const totals = [...Array(18).fill(0), 400, 400, ...Array(40).fill(0)];
    const out = replay(totals, { start: 1, bounds: { min: 1, max: 100 } });
    const first = out.findIndex((o) => o.panicking);
    expect(first).to.equal(18);
    const lastPanic = out.map((o) => o.panicking).lastIndexOf(true);
    for (let i = first; i <= lastPanic; i++) expect(out[i]!.desired, `tick ${i}`).to.be.at.least(out[i]!.before);
    // The trigger stops once the panic window no longer exceeds twice the stable one; panic then lasts a full
    // stable window (18 ticks of 10 s) from the last trigger, and only after that may replicas fall.
    expect(out.slice(lastPanic + 1).some((o) => o.desired < o.before)).to.equal(true);
    expect(lastPanic - first).to.be.at.least(STABLE_MS / 10_000);
  });

  it("holds the panic high-water mark across ticks even when the panic value drops (upstream forgot it)", () => {
    const s1 = decideKpa(input({ nowMs: 0, stableValue: 10, panicValue: 100, currentReplicas: 2, readyPods: 2 }));
    expect(s1.panicking).to.equal(true);
    expect(s1.desired).to.equal(4); // rate-limited: ceil(2 · 2)
    const s2 = decideKpa(
      input({ nowMs: 10_000, stableValue: 10, panicValue: 12, currentReplicas: 4, readyPods: 4, state: s1.state }),
    );
    expect(s2.panicking).to.equal(true);
    expect(s2.desired).to.equal(4);
  });

  it("holds replicas when no sample exists instead of reading the gap as zero load", () => {
    const d = decideKpa(input({ stableValue: undefined, panicValue: undefined, currentReplicas: 7, readyPods: 7 }));
    expect(d.desired).to.equal(7);
    expect(d.reason).to.equal("NoMetrics");
  });

  it("scales to zero only when allowed", () => {
    const base = input({ stableValue: 0, panicValue: 0, currentReplicas: 1, readyPods: 1, bounds: { min: 0, max: 5 } });
    expect(decideKpa(base).desired).to.equal(1);
    expect(decideKpa({ ...base, tuning: { ...DEFAULT_TUNING, scaleToZero: true } }).desired).to.equal(0);
  });

  it("limits a step by the max scale-up and scale-down rates", () => {
    const up = decideKpa(input({ stableValue: 1000, panicValue: 1000, currentReplicas: 3, readyPods: 3 }));
    expect(up.desired).to.equal(6);
    const down = decideKpa(input({ stableValue: 1, panicValue: 1, currentReplicas: 9, readyPods: 9 }));
    expect(down.desired).to.equal(4); // floor(9 / 2)
  });

  it("grows from the pods already asked for: 1 Ready + 1 loading at rate 2 may reach 4 in one tick", () => {
    // Counting only Ready pods (Knative, upstream) held this at 2 until the loading pod turned Ready, minutes later
    // for an LLM: 1 → 2 → 4 took two start-ups.
    const d = decideKpa(
      input({ stableValue: 100, panicValue: 100, readyPods: 1, startingPods: 1, currentReplicas: 2 }),
    );
    expect(d.desired).to.equal(4);
    const readyOnly = decideKpa(
      input({ stableValue: 100, panicValue: 100, readyPods: 1, startingPods: 0, currentReplicas: 2 }),
    );
    expect(readyOnly.desired).to.equal(2);
  });

  it("keeps max-scale-up-rate a rate over the pods that exist, ready or starting", () => {
    const tuning = { ...DEFAULT_TUNING, maxScaleUpRate: 1.5 };
    const d = decideKpa(
      input({ stableValue: 1000, panicValue: 1000, readyPods: 2, startingPods: 2, currentReplicas: 4, tuning }),
    );
    expect(d.desired).to.equal(6); // ceil(1.5 × 4)
  });

  it("asks for no more than the load needs while pods load: starting pods widen the limit, not the ask", () => {
    // 25 waiting at target 10 want 3 pods; 8 loading pods allow up to 18 but the ask stays ceil(25 / 10).
    const d = decideKpa(input({ stableValue: 25, panicValue: 25, readyPods: 1, startingPods: 0, currentReplicas: 1 }));
    expect(d.desired).to.equal(2);
    const wide = decideKpa(
      input({ stableValue: 25, panicValue: 25, readyPods: 1, startingPods: 8, currentReplicas: 2 }),
    );
    expect(wide.desired).to.equal(3);
  });

  it("holds a fall to what the panic window's load still needs", () => {
    // A long lull drags the 180 s average to 30 (3 pods at target 10); the last minute carries 50 (5 pods), under
    // the panic threshold. Scaling to 3 would cut pods the current load is using.
    const d = decideKpa(input({ stableValue: 30, panicValue: 50, currentReplicas: 6, readyPods: 6 }));
    expect(d.panicking).to.equal(false);
    expect(d.desired).to.equal(5);
    expect(d.reason).to.equal("ScaleDown");
    // A panic window that needs more than the fleet holds it; one that agrees with the stable window lets it fall.
    expect(decideKpa(input({ stableValue: 30, panicValue: 59, currentReplicas: 5, readyPods: 5 })).desired).to.equal(5);
    expect(decideKpa(input({ stableValue: 30, panicValue: 30, currentReplicas: 6, readyPods: 6 })).desired).to.equal(3);
  });

  it("does not scale down on a stable window not yet observed in full (a new PodAutoscaler, a restarted controller)", () => {
    // Ten seconds of a quiet fleet after the controller started: the one sample asks for 1 pod out of 4.
    const early = decideKpa(input({ stableValue: 5, panicValue: 5, currentReplicas: 4, readyPods: 4, observedMs: 0 }));
    expect(early.desired).to.equal(4);
    const partial = input({ stableValue: 5, panicValue: 5, currentReplicas: 4, readyPods: 4 });
    expect(decideKpa({ ...partial, observedMs: STABLE_MS - 10_000 }).desired).to.equal(4);
    expect(decideKpa({ ...partial, observedMs: STABLE_MS }).desired).to.equal(2); // floor(4 / 2)
    // Scaling up needs no full window.
    const up = decideKpa(input({ stableValue: 35, panicValue: 35, currentReplicas: 2, readyPods: 2, observedMs: 0 }));
    expect(up.desired).to.equal(4);
  });

  it("property: outside panic, a fall never goes below what the panic window asks (within bounds)", () => {
    fc.assert(
      fc.property(totalsArb, boundsArb, tuningArb, startArb, (totals, bounds, tuning, start) => {
        let window: MetricWindow = [];
        let state: KpaState = CALM;
        let replicas = start;
        totals.forEach((total, i) => {
          const nowMs = i * 10_000;
          window = recordSample(window, nowMs, total, STABLE_MS);
          const panicValue = windowAverage(window, nowMs, PANIC_MS);
          const base = { nowMs, panicValue, currentReplicas: replicas, readyPods: replicas, bounds, tuning, state };
          const d = decideKpa(
            input({ ...base, stableValue: windowAverage(window, nowMs, STABLE_MS), observedMs: nowMs }),
          );
          if (!d.panicking && d.desired < replicas && panicValue !== undefined && replicas <= bounds.max) {
            // The panic window's own ask, judged as if it were the stable value (same tolerance and rate limits).
            const panicAsk = decideKpa(input({ ...base, stableValue: panicValue, observedMs: nowMs, state: CALM }));
            expect(d.desired).to.be.at.least(Math.min(replicas, panicAsk.desired));
          }
          state = d.state;
          replicas = d.desired;
        });
      }),
    );
  });

  it("property: desired stays within bounds on every tick", () => {
    fc.assert(
      fc.property(totalsArb, boundsArb, tuningArb, startArb, shareArb, (totals, bounds, tuning, start, readyShare) => {
        for (const o of replay(totals, { start, bounds, tuning, readyShare })) {
          const floor = tuning.scaleToZero ? bounds.min : Math.max(1, bounds.min);
          expect(o.desired).to.be.at.most(bounds.max);
          expect(o.desired).to.be.at.least(Math.min(floor, bounds.max));
        }
      }),
    );
  });

  it("property: no scale-down while panicking (unless above max)", () => {
    fc.assert(
      fc.property(totalsArb, boundsArb, tuningArb, shareArb, (totals, bounds, tuning, readyShare) => {
        for (const o of replay(totals, { start: bounds.min, bounds, tuning, readyShare })) {
          if (o.panicking && o.before <= bounds.max) expect(o.desired).to.be.at.least(o.before);
        }
      }),
    );
  });

  it("property: one tick never grows replicas past the rate times the pods that exist (or the floor)", () => {
    fc.assert(
      fc.property(totalsArb, boundsArb, tuningArb, startArb, shareArb, (totals, bounds, tuning, start, readyShare) => {
        for (const o of replay(totals, { start, bounds, tuning, readyShare })) {
          const floor = tuning.scaleToZero ? bounds.min : Math.max(1, bounds.min);
          const limit = Math.max(1, o.before, Math.ceil(tuning.maxScaleUpRate * Math.max(1, o.before)));
          expect(o.desired).to.be.at.most(Math.max(limit, Math.min(floor, bounds.max)));
        }
      }),
    );
  });

  it("property: identical inputs give identical decisions", () => {
    fc.assert(
      fc.property(totalsArb, boundsArb, tuningArb, (totals, bounds, tuning) => {
        expect(replay(totals, { start: 1, bounds, tuning })).to.deep.equal(
          replay(totals, { start: 1, bounds, tuning }),
        );
      }),
    );
  });

  it("keeps state per PodAutoscaler: one PA's panic does not leak into another's decision", () => {
    const a = decideKpa(input({ nowMs: 0, stableValue: 10, panicValue: 100, currentReplicas: 2, readyPods: 2 }));
    expect(a.panicking).to.equal(true);
    const b = decideKpa(input({ nowMs: 0, stableValue: 5, panicValue: 5, currentReplicas: 2, readyPods: 2 }));
    expect(b.panicking).to.equal(false);
    expect(b.desired).to.equal(1);
    expect(CALM).to.deep.equal({ panicSinceMs: undefined, maxPanicPods: 0 });
  });

  it("does not scale down when engines stop answering metrics (upstream recorded 0 and shrank the fleet)", () => {
    const totals = [...Array(20).fill(100), ...Array(60).fill(undefined)];
    const out = replay(totals, { start: 10, bounds: { min: 1, max: 20 } });
    expect(out.every((o) => o.desired === 10)).to.equal(true);
  });

  it("counts only ready, warmed-up pods as capacity, and does not cut a fleet whose pods are still loading", () => {
    const pods = [
      { pod: "a", ready: true, terminating: false, warmingUp: false, value: 60 },
      ...["b", "c", "d", "e", "f"].map((pod) => ({ pod, ready: true, terminating: false, warmingUp: true, value: 0 })),
      { pod: "g", ready: true, terminating: true, warmingUp: false, value: 0 },
    ];
    const tick = tickValue(pods)!;
    expect(tick.counted).to.equal(1);
    expect(tick.total).to.equal(60);
    expect(tick.average).to.equal(60);
    const d = decideKpa(
      input({ stableValue: tick.total, panicValue: tick.total, readyPods: tick.counted, currentReplicas: 7 }),
    );
    // 60 / 10 = 6 pods wanted; a limit from the one Ready pod (at most 2) would have cut the five loading ones.
    expect(d.desired).to.equal(6);
  });

  it("with stabilisation, load that stops brings replicas down only after the 300 s window, never below min", () => {
    let window: MetricWindow = [];
    let state: KpaState = CALM;
    let history: readonly Recommendation[] = [];
    let replicas = 8;
    const trace: number[] = [];
    for (let i = 0; i < 120; i++) {
      const nowMs = i * 10_000;
      window = recordSample(window, nowMs, i < 20 ? 80 : 0, STABLE_MS);
      const d = decideKpa(
        input({
          nowMs,
          stableValue: windowAverage(window, nowMs, STABLE_MS),
          panicValue: windowAverage(window, nowMs, PANIC_MS),
          readyPods: replicas,
          currentReplicas: replicas,
          bounds: { min: 2, max: 20 },
          state,
        }),
      );
      state = d.state;
      const s = stabilise(history, nowMs, d.desired, replicas, { upMs: 0, downMs: DEFAULT_TUNING.scaleDownCooldownMs });
      history = s.history;
      replicas = s.replicas;
      trace.push(replicas);
    }
    const firstDrop = trace.findIndex((r) => r < 8);
    // Load stops at tick 20; the stable window still carries it for a while, then 300 s of lower recommendations.
    expect(firstDrop * 10_000 - 20 * 10_000).to.be.at.least(DEFAULT_TUNING.scaleDownCooldownMs);
    expect(trace.at(-1)).to.equal(2);
    expect(Math.min(...trace)).to.equal(2);
  });
});
