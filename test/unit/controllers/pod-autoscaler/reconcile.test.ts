import { expect } from "chai";
import { AutoscalingAnnotation } from "../../../../api/labels.js";
import { parseTuning } from "../../../../controllers/pod-autoscaler/annotations.js";
import { desiredHpa, hpaDiffers } from "../../../../controllers/pod-autoscaler/hpa.js";
import { Conditions } from "../../../../controllers/pod-autoscaler/status.js";
import { autoscaler, makePod, QUEUE, T0, World } from "./world.js";

const condition = (w: World, pa: string, type: string) => w.pa(pa).status?.conditions?.find((c) => c.type === type);
const fast = { [AutoscalingAnnotation.scaleDownCooldownWindow]: "30s" };

describe("pod-autoscaler reconciler", () => {
  it("sizes a KPA fleet from the total across pods: 10 pods at 50 waiting with target 10 grow, never shrink to ~1", async () => {
    const w = new World();
    w.addTarget("llama", 10);
    w.add(autoscaler("pa", { maxReplicas: 100 }));
    w.load("llama", 50);
    await w.tick("pa");
    // Total 500 / 10 per pod = 50 pods, limited by the default up rate 2 to 20. The per-pod average (50) would say 5.
    expect(w.target("llama").replicas).to.equal(20);
    expect(w.pa("pa").status?.desiredScale).to.equal(20);
  });

  it("holds replicas when engines stop answering: a missing scrape is missing, not zero load", async () => {
    const w = new World();
    w.addTarget("llama", 4);
    w.add(autoscaler("pa", {}, fast));
    const steady = await w.run("pa", 120_000, () => 10);
    expect(steady.every((r) => r === 4)).to.equal(true);
    const silent = await w.run("pa", 600_000, () => undefined);
    expect(
      silent.every((r) => r === 4),
      `replicas while engines were silent: ${silent.join(",")}`,
    ).to.equal(true);
    expect(condition(w, "pa", Conditions.scalingActive)).to.include({ status: "False", reason: "FailedGetMetrics" });
    expect(w.scaleWrites).to.deep.equal([]);
  });

  it("keeps the fleet's total when some pods do not answer (they carry the mean of the others, not 0)", async () => {
    const w = new World();
    const t = w.addTarget("llama", 4);
    w.add(autoscaler("pa", {}, fast));
    await w.run("pa", 120_000, () => 10);
    for (let i = 0; i < 30; i++) {
      w.load("llama", 10);
      t.values.set(t.pods[0]!.metadata!.name!, undefined);
      t.values.set(t.pods[1]!.metadata!.name!, undefined);
      await w.tick("pa");
    }
    expect(t.replicas).to.equal(4);
  });

  it("neither scrapes nor counts pods that are not Ready, terminating or warming up", async () => {
    const w = new World({ warmUpMs: 60_000 });
    const t = w.addTarget("llama", 2);
    t.pods.push(
      makePod("loading", "llama", { ready: false }),
      makePod("leaving", "llama", { terminating: true }),
      makePod("fresh", "llama", { readyAt: T0 }),
    );
    t.replicas = 5;
    w.add(autoscaler("pa", { scalingStrategy: "APA", maxReplicas: 100 }));
    w.load("llama", 30);
    await w.tick("pa");
    expect(w.scraped[0]).to.have.members([t.pods[0]!.metadata!.name!, t.pods[1]!.metadata!.name!]);
    // APA on the two serving pods (30 each, target 10): r = 3, and the load they carry needs 6 pods, so 5 → 6.
    expect(t.replicas).to.equal(6);
  });

  it("does not panic at zero load", async () => {
    const w = new World();
    w.addTarget("llama", 1);
    w.add(autoscaler("pa"));
    await w.run("pa", 120_000, () => 0);
    expect(w.target("llama").replicas).to.equal(1);
    expect(condition(w, "pa", Conditions.scalingActive)?.message).to.not.include("panic");
  });

  it("never scales down while panicking, across ticks, until a stable window passes without the trigger", async () => {
    const w = new World();
    w.addTarget("llama", 2);
    // No stabilisation: only the panic hold may keep replicas up.
    w.add(autoscaler("pa", {}, { [AutoscalingAnnotation.scaleDownCooldownWindow]: "0s" }));
    await w.run("pa", 60_000, () => 1);
    await w.run("pa", 20_000, (n) => 60 / n); // a burst: 60 waiting in all
    const peak = w.target("llama").replicas;
    expect(peak).to.be.greaterThan(2);
    const after = await w.run("pa", 50_000, (n) => 5 / n);
    expect(
      after.every((r) => r >= peak),
      `replicas during panic: ${after.join(",")}`,
    ).to.equal(true);
    const later = await w.run("pa", 120_000, (n) => 5 / n);
    expect(later[later.length - 1]).to.be.lessThan(peak);
  });

  it("holds a scale-down for the whole down window (the maximum recommendation, not the minimum)", async () => {
    const w = new World();
    w.addTarget("llama", 1);
    w.add(autoscaler("pa", {}, { [AutoscalingAnnotation.scaleDownCooldownWindow]: "120s" }));
    await w.run("pa", 120_000, (n) => 60 / n);
    const high = w.target("llama").replicas;
    expect(high).to.equal(6);
    const during = await w.run("pa", 110_000, () => 0);
    expect(
      during.every((r) => r === high),
      `replicas inside the window: ${during.join(",")}`,
    ).to.equal(true);
    const after = await w.run("pa", 180_000, () => 0);
    expect(after[after.length - 1]).to.equal(1);
  });

  it("keeps each PodAutoscaler's state its own: interleaved ticks decide as each alone would", async () => {
    const alone = async (name: string, load: number) => {
      const w = new World();
      w.addTarget(name, 2);
      w.add(autoscaler(name, { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name } }, fast));
      return await w.run(name, 200_000, (n) => (load * 2) / n);
    };
    const w = new World();
    for (const name of ["a", "b"]) {
      w.addTarget(name, 2);
      w.add(autoscaler(name, { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name } }, fast));
    }
    const seen: Record<string, number[]> = { a: [], b: [] };
    for (let t = 0; t < 200_000; t += 10_000) {
      w.now += 10_000;
      for (const [name, load] of [
        ["a", 80],
        ["b", 0],
      ] as const) {
        w.load(name, (load * 2) / w.target(name).replicas);
        await w.reconciler.reconcile(`ns/${name}`);
        seen[name]!.push(w.target(name).replicas);
      }
    }
    expect(seen.a).to.deep.equal(await alone("a", 80));
    expect(seen.b).to.deep.equal(await alone("b", 0));
    expect(w.reconciler.memoryOf("ns/a")).to.not.equal(w.reconciler.memoryOf("ns/b"));
  });

  it("honours kpa.autoscaling.aibrix.ai/scale-down-delay as the scale-down window and says it is deprecated", async () => {
    const w = new World();
    w.addTarget("llama", 1);
    w.add(autoscaler("pa", {}, { [AutoscalingAnnotation.legacyScaleDownDelay]: "30s" }));
    await w.run("pa", 60_000, (n) => 40 / n);
    expect(w.target("llama").replicas).to.equal(4);
    const fall = await w.run("pa", 60_000, () => 0);
    // Falling within a minute of the load stopping; the 300 s default would still hold 4.
    expect(fall[fall.length - 1]).to.be.lessThan(4);
    expect(fall.slice(0, 2)).to.deep.equal([4, 4]);
    const warnings = w.events.filter((e) => e.startsWith("Warning DeprecatedAnnotation"));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include("scale-down-cooldown-window");
  });

  it("gives the later of two PodAutoscalers on one target MultiPodAutoscalerConflict and lets it do nothing", async () => {
    const w = new World();
    w.addTarget("llama", 1);
    w.add(autoscaler("first", {}, {}, T0 - 7_200_000));
    w.add(autoscaler("second", { minReplicas: 5 }, {}, T0 - 3_600_000));
    await w.tick("second");
    expect(w.scaleWrites).to.deep.equal([]);
    expect(condition(w, "second", Conditions.conflict)).to.include({ status: "False" });
    expect(condition(w, "second", Conditions.conflict)?.message).to.include("first");
    await w.tick("first");
    expect(condition(w, "first", Conditions.conflict)).to.equal(undefined);
  });

  it("raises min at a schedule's start and wakes for it", async () => {
    const w = new World();
    w.addTarget("llama", 1);
    const schedules = [
      { name: "peak", timezone: "Europe/Paris", startTime: "11:05", endTime: "12:00", minReplicas: 5 },
    ];
    w.add(autoscaler("pa", { schedules }));
    w.now = T0 - 10_000; // 10:00 UTC is 11:00 in Paris
    const result = await w.reconciler.reconcile("ns/pa");
    expect(w.target("llama").replicas).to.equal(1);
    expect(result && result.requeueAfterMs).to.equal(10_000);
    w.now = T0 + 290_000;
    await w.reconciler.reconcile("ns/pa");
    expect(w.target("llama").replicas).to.equal(1);
    w.now = T0 + 300_000; // 11:05 Paris
    await w.reconciler.reconcile("ns/pa");
    expect(w.target("llama").replicas).to.equal(5);
    expect(w.pa("pa").status?.scheduledBounds).to.deep.equal({
      activeSchedule: "peak",
      effectiveMinReplicas: 5,
      effectiveMaxReplicas: 20,
    });
  });

  it("records an Event per scale and keeps the 5 newest history entries, at least 5 s apart", async () => {
    const w = new World();
    w.addTarget("llama", 1);
    w.add(autoscaler("pa", { maxReplicas: 100 }, { [AutoscalingAnnotation.maxScaleUpRate]: "1.5" }));
    await w.run("pa", 80_000, () => 1000);
    const history = w.pa("pa").status?.scalingHistory ?? [];
    expect(history).to.have.length(5);
    expect(history.every((h) => h.success && h.newScale > h.previousScale)).to.equal(true);
    for (let i = 1; i < history.length; i++)
      expect(Date.parse(history[i]!.timestamp) - Date.parse(history[i - 1]!.timestamp)).to.be.at.least(5_000);
    const rescales = w.events.filter((e) => e.startsWith("Normal SuccessfulRescale"));
    expect(rescales.length).to.equal(w.scaleWrites.length);
    expect(rescales[0]).to.match(/New size: 2 \(was 1\); reason: \w+/);
    expect(w.pa("pa").status?.lastScaleTime).to.be.a("string");
    expect(condition(w, "pa", Conditions.ableToScale)).to.include({ status: "True" });
  });

  it("does not tick again on its own status write inside the sync period", async () => {
    const w = new World();
    w.addTarget("llama", 1);
    w.add(autoscaler("pa"));
    w.load("llama", 100);
    await w.tick("pa");
    const writes = w.scaleWrites.length;
    const again = await w.reconciler.reconcile("ns/pa");
    expect(w.scaleWrites.length).to.equal(writes);
    expect(again && again.requeueAfterMs).to.equal(10_000);
  });

  it("reports an invalid spec in ValidSpec, naming the field and the rule, and scales nothing", async () => {
    const w = new World();
    w.addTarget("llama", 1);
    w.add(autoscaler("pa", { metricsSources: [{ ...QUEUE, targetValue: "-1" }] }));
    await w.tick("pa");
    const valid = condition(w, "pa", Conditions.validSpec);
    expect(valid).to.include({ status: "False", reason: "InvalidSpec" });
    expect(valid?.message).to.include("spec.metricsSources[0].targetValue");
    expect(w.scaleWrites).to.deep.equal([]);
  });

  it("leaves a target paused at 0 replicas alone (HPA semantics)", async () => {
    const w = new World();
    w.addTarget("llama", 0);
    w.add(autoscaler("pa"));
    await w.tick("pa");
    expect(w.scaleWrites).to.deep.equal([]);
    expect(condition(w, "pa", Conditions.scalingActive)).to.include({ status: "False", reason: "ScalingDisabled" });
  });

  it("brings a target outside the bounds back inside them", async () => {
    const w = new World();
    w.addTarget("llama", 30);
    w.add(autoscaler("pa", { maxReplicas: 10 }));
    w.load("llama", 10);
    await w.tick("pa");
    expect(w.target("llama").replicas).to.equal(10);
  });

  it("HPA strategy: owns <pa>-hpa with the translated metrics and behavior, and does not scale itself", async () => {
    const w = new World();
    w.addTarget("llama", 1);
    const sources = [{ metricSourceType: "resource" as const, targetMetric: "cpu", targetValue: "60" }, QUEUE];
    w.add(
      autoscaler(
        "pa",
        { scalingStrategy: "HPA", metricsSources: sources, minReplicas: 2 },
        {
          [AutoscalingAnnotation.maxScaleUpRate]: "3",
          [AutoscalingAnnotation.scaleDownCooldownWindow]: "2m",
        },
      ),
    );
    await w.tick("pa");
    expect(w.scaleWrites).to.deep.equal([]);
    const hpa = w.hpaWrites[0]!;
    expect(hpa.metadata?.name).to.equal("pa-hpa");
    expect(hpa.metadata?.ownerReferences?.[0]).to.include({ kind: "PodAutoscaler", name: "pa", controller: true });
    expect(hpa.spec).to.deep.include({
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "llama" },
      minReplicas: 2,
      maxReplicas: 20,
    });
    expect(hpa.spec?.metrics).to.deep.equal([
      { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 60 } } },
      {
        type: "Pods",
        pods: { metric: { name: "vllm:num_requests_waiting" }, target: { type: "AverageValue", averageValue: "10" } },
      },
    ]);
    expect(hpa.spec?.behavior).to.deep.equal({
      scaleUp: {
        stabilizationWindowSeconds: 0,
        selectPolicy: "Max",
        policies: [{ type: "Percent", value: 200, periodSeconds: 60 }],
      },
      scaleDown: {
        stabilizationWindowSeconds: 120,
        selectPolicy: "Min",
        policies: [{ type: "Percent", value: 50, periodSeconds: 60 }],
      },
    });
  });
});

describe("pod-autoscaler HPA object", () => {
  it("is replaced when a field it sets changes, not for defaults the API server adds", () => {
    const want = desiredHpa(autoscaler("pa", { scalingStrategy: "HPA" }), parseTuning(undefined).tuning);
    const defaulted = structuredClone(want);
    (defaulted.spec!.behavior as { scaleUp: Record<string, unknown> }).scaleUp.tolerance = "100m";
    expect(hpaDiffers(defaulted, want)).to.equal(false);
    const changed = structuredClone(want);
    changed.spec!.maxReplicas = 99;
    expect(hpaDiffers(changed, want)).to.equal(true);
    const foreign = structuredClone(want);
    foreign.metadata!.ownerReferences = [];
    expect(hpaDiffers(foreign, want)).to.equal(true);
  });
});

describe("pod-autoscaler reconciler errors", () => {
  it("holds and says so when the pods cannot be listed, and comes back at the next tick", async () => {
    const w = new World();
    w.addTarget("llama", 3);
    w.add(autoscaler("pa"));
    w.podsError = new Error("pods is forbidden");
    w.now += 10_000;
    const result = await w.reconciler.reconcile("ns/pa");
    expect(result && result.requeueAfterMs).to.equal(10_000);
    expect(w.scaleWrites).to.deep.equal([]);
    expect(w.pa("pa").status?.conditions?.find((c) => c.type === Conditions.scalingActive)).to.include({
      status: "False",
      reason: "FailedGetPods",
      message: "pods is forbidden",
    });
  });
});
