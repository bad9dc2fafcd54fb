import { expect } from "chai";
import { podAutoscalerKind } from "../../../../api/kinds/pod-autoscaler.js";
import { AutoscalingAnnotation as A } from "../../../../api/labels.js";
import { ProblemList } from "../../../../api/problem.js";
import { DEFAULT_TUNING, parseTuning } from "../../../../controllers/pod-autoscaler/annotations.js";

/** What `validate` says about the same annotations, for consistency checks. */
function admission(annotations: Record<string, string>) {
  const obj = {
    metadata: { name: "pa", annotations },
    spec: {
      scaleTargetRef: { kind: "Deployment", name: "d" },
      maxReplicas: 5,
      scalingStrategy: "KPA",
      metricsSources: [{ metricSourceType: "external", targetMetric: "m", targetValue: "1" }],
    },
  };
  const errors = new ProblemList();
  const warnings = new ProblemList();
  podAutoscalerKind.rules?.(obj, errors);
  podAutoscalerKind.warnings?.(obj, warnings);
  return { errors: errors.items, warnings: warnings.items };
}

describe("pod-autoscaler tuning annotations", () => {
  it("defaults to upstream's values", () => {
    expect(parseTuning(undefined)).to.deep.equal({ tuning: DEFAULT_TUNING, errors: [], warnings: [] });
    expect(DEFAULT_TUNING).to.deep.equal({
      maxScaleUpRate: 2,
      maxScaleDownRate: 2,
      scaleUpTolerance: 0.1,
      scaleDownTolerance: 0.1,
      panicThreshold: 2,
      scaleUpCooldownMs: 0,
      scaleDownCooldownMs: 300_000,
      scaleToZero: false,
    });
  });

  it("parses every key", () => {
    const { tuning, errors } = parseTuning({
      [A.maxScaleUpRate]: "4",
      [A.maxScaleDownRate]: "1.5",
      [A.scaleUpTolerance]: "0.2",
      [A.scaleDownTolerance]: "0",
      [A.panicThreshold]: "3",
      [A.scaleUpCooldownWindow]: "30s",
      [A.scaleDownCooldownWindow]: "1m30s",
      [A.scaleToZero]: "true",
    });
    expect(errors).to.deep.equal([]);
    expect(tuning).to.deep.equal({
      maxScaleUpRate: 4,
      maxScaleDownRate: 1.5,
      scaleUpTolerance: 0.2,
      scaleDownTolerance: 0,
      panicThreshold: 3,
      scaleUpCooldownMs: 30_000,
      scaleDownCooldownMs: 90_000,
      scaleToZero: true,
    });
  });

  it("names the key and the rule of each bad value, as validate does", () => {
    const bad = {
      [A.maxScaleUpRate]: "0.5",
      [A.panicThreshold]: "1",
      [A.scaleDownTolerance]: "lots",
      [A.scaleUpCooldownWindow]: "5 minutes",
      [A.scaleToZero]: "yes",
    };
    const { errors, tuning } = parseTuning(bad);
    const summary = errors.map((e) => `${e.path} ${e.rule}`);
    expect(summary).to.have.members([
      `metadata.annotations["${A.maxScaleUpRate}"] float`,
      `metadata.annotations["${A.panicThreshold}"] float`,
      `metadata.annotations["${A.scaleDownTolerance}"] float`,
      `metadata.annotations["${A.scaleUpCooldownWindow}"] duration`,
      `metadata.annotations["${A.scaleToZero}"] bool`,
    ]);
    expect(errors.every((e) => e.message.length > 0)).to.equal(true);
    expect(tuning).to.deep.equal(DEFAULT_TUNING);
    expect(admission(bad).errors.map((e) => `${e.path} ${e.rule}`)).to.have.members(summary);
  });

  it("honours the legacy kpa.autoscaling.aibrix.ai/scale-down-delay as the scale-down cooldown, with a warning", () => {
    const annotations = { [A.legacyScaleDownDelay]: "10m" };
    const { tuning, errors, warnings } = parseTuning(annotations);
    expect(errors).to.deep.equal([]);
    expect(tuning.scaleDownCooldownMs).to.equal(600_000);
    expect(warnings).to.have.length(1);
    expect(warnings[0]!.rule).to.equal("deprecated");
    expect(warnings[0]!.message).to.contain(A.scaleDownCooldownWindow);
    const admitted = admission(annotations);
    expect(admitted.errors).to.deep.equal([]);
    expect(admitted.warnings.map((w) => [w.path, w.rule])).to.deep.equal(warnings.map((w) => [w.path, w.rule]));
  });

  it("lets the successor key win when both are set, and says the legacy one is ignored", () => {
    const { tuning, warnings } = parseTuning({ [A.legacyScaleDownDelay]: "10m", [A.scaleDownCooldownWindow]: "1m" });
    expect(tuning.scaleDownCooldownMs).to.equal(60_000);
    expect(warnings[0]!.message).to.contain("ignored");
  });

  it("rejects a malformed legacy delay like validate does", () => {
    const { errors } = parseTuning({ [A.legacyScaleDownDelay]: "soon" });
    expect(errors.map((e) => e.rule)).to.deep.equal(["duration"]);
    expect(admission({ [A.legacyScaleDownDelay]: "soon" }).errors.map((e) => e.rule)).to.deep.equal(["duration"]);
  });
});
