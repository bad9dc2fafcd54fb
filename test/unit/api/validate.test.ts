import { expect } from "chai";
import { validate, validateUpdate, warnings, type Problem } from "../../../api/index.js";
import { fixture, validManifests, type Doc } from "./fixtures.js";

interface InvalidCase {
  name: string;
  base: string;
  mutate(doc: Doc): void;
  path: string;
  rule: string;
}

const cases: InvalidCase[] = [
  // ModelAdapter
  {
    name: "adapter without artifactURL",
    base: "llama-3-8b-sql-lora",
    mutate: (d) => delete d.spec.artifactURL,
    path: "spec.artifactURL",
    rule: "required",
  },
  {
    name: "adapter without podSelector",
    base: "llama-3-8b-sql-lora",
    mutate: (d) => delete d.spec.podSelector,
    path: "spec.podSelector",
    rule: "required",
  },
  {
    name: "adapter with ftp artifact",
    base: "llama-3-8b-sql-lora",
    mutate: (d) => (d.spec.artifactURL = "ftp://host/lora"),
    path: "spec.artifactURL",
    rule: "artifact-url-scheme",
  },
  {
    name: "adapter with relative path",
    base: "local-lora",
    mutate: (d) => (d.spec.artifactURL = "models/lora"),
    path: "spec.artifactURL",
    rule: "artifact-url-scheme",
  },
  {
    name: "adapter with bare scheme",
    base: "llama-3-8b-sql-lora",
    mutate: (d) => (d.spec.artifactURL = "s3://"),
    path: "spec.artifactURL",
    rule: "artifact-url-scheme",
  },
  {
    name: "adapter with 2 replicas",
    base: "qwen-coder-lora",
    mutate: (d) => (d.spec.replicas = 2),
    path: "spec.replicas",
    rule: "enum",
  },
  {
    name: "adapter with 0 replicas",
    base: "qwen-coder-lora",
    mutate: (d) => (d.spec.replicas = 0),
    path: "spec.replicas",
    rule: "enum",
  },
  {
    name: "adapter In without values",
    base: "qwen-coder-lora",
    mutate: (d) => delete d.spec.podSelector.matchExpressions[0].values,
    path: "spec.podSelector.matchExpressions[0].values",
    rule: "values-required",
  },
  {
    name: "adapter Exists with values",
    base: "qwen-coder-lora",
    mutate: (d) => (d.spec.podSelector.matchExpressions[1].values = ["x"]),
    path: "spec.podSelector.matchExpressions[1].values",
    rule: "values-forbidden",
  },
  {
    name: "adapter bad operator",
    base: "qwen-coder-lora",
    mutate: (d) => (d.spec.podSelector.matchExpressions[0].operator = "Equals"),
    path: "spec.podSelector.matchExpressions[0].operator",
    rule: "enum",
  },
  {
    name: "adapter misspelled field",
    base: "local-lora",
    mutate: (d) => (d.spec.artifactUrl = "/x"),
    path: "spec.artifactUrl",
    rule: "known-field",
  },
  {
    name: "adapter additionalConfig not strings",
    base: "qwen-coder-lora",
    mutate: (d) => (d.spec.additionalConfig = { "api-key": 42 }),
    path: "spec.additionalConfig.api-key",
    rule: "type",
  },
  {
    name: "adapter bad name",
    base: "local-lora",
    mutate: (d) => (d.metadata.name = "Local_Lora"),
    path: "metadata.name",
    rule: "dns1123-subdomain",
  },
  {
    name: "adapter without name",
    base: "local-lora",
    mutate: (d) => delete d.metadata.name,
    path: "metadata.name",
    rule: "required",
  },
  // PodAutoscaler
  {
    name: "pa min > max",
    base: "llama-kpa",
    mutate: (d) => (d.spec.minReplicas = 9),
    path: "spec.minReplicas",
    rule: "min-le-max",
  },
  {
    name: "pa max 0",
    base: "llama-kpa",
    mutate: (d) => ((d.spec.maxReplicas = 0), (d.spec.minReplicas = 0)),
    path: "spec.maxReplicas",
    rule: "minimum",
  },
  {
    name: "pa negative min",
    base: "llama-kpa",
    mutate: (d) => (d.spec.minReplicas = -1),
    path: "spec.minReplicas",
    rule: "minimum",
  },
  {
    name: "pa without maxReplicas",
    base: "llama-kpa",
    mutate: (d) => delete d.spec.maxReplicas,
    path: "spec.maxReplicas",
    rule: "required",
  },
  {
    name: "pa unknown strategy",
    base: "llama-kpa",
    mutate: (d) => (d.spec.scalingStrategy = "VPA"),
    path: "spec.scalingStrategy",
    rule: "enum",
  },
  {
    name: "pa panic > observe",
    base: "llama-kpa",
    mutate: (d) => (d.spec.panicWindowSeconds = 150),
    path: "spec.panicWindowSeconds",
    rule: "panic-le-observe",
  },
  {
    name: "pa observe below default panic",
    base: "llama-kpa",
    mutate: (d) => ((d.spec.observeWindowSeconds = 30), delete d.spec.panicWindowSeconds),
    path: "spec.observeWindowSeconds",
    rule: "panic-le-observe",
  },
  {
    name: "pa observe window too long",
    base: "llama-kpa",
    mutate: (d) => (d.spec.observeWindowSeconds = 7200),
    path: "spec.observeWindowSeconds",
    rule: "maximum",
  },
  {
    name: "pa targetValue not numeric",
    base: "llama-kpa",
    mutate: (d) => (d.spec.metricsSources[0].targetValue = "five"),
    path: "spec.metricsSources[0].targetValue",
    rule: "positive-number",
  },
  {
    name: "pa targetValue zero",
    base: "llama-kpa",
    mutate: (d) => (d.spec.metricsSources[0].targetValue = "0"),
    path: "spec.metricsSources[0].targetValue",
    rule: "positive-number",
  },
  {
    name: "pa targetValue as number",
    base: "llama-kpa",
    mutate: (d) => (d.spec.metricsSources[0].targetValue = 5),
    path: "spec.metricsSources[0].targetValue",
    rule: "type",
  },
  {
    name: "pa empty metricsSources",
    base: "llama-kpa",
    mutate: (d) => (d.spec.metricsSources = []),
    path: "spec.metricsSources",
    rule: "minItems",
  },
  {
    name: "pa pod source without port",
    base: "llama-kpa",
    mutate: (d) => delete d.spec.metricsSources[0].port,
    path: "spec.metricsSources[0].port",
    rule: "required",
  },
  {
    name: "pa pod source without path",
    base: "llama-kpa",
    mutate: (d) => delete d.spec.metricsSources[0].path,
    path: "spec.metricsSources[0].path",
    rule: "required",
  },
  {
    name: "pa bad protocol",
    base: "llama-kpa",
    mutate: (d) => (d.spec.metricsSources[0].protocolType = "grpc"),
    path: "spec.metricsSources[0].protocolType",
    rule: "enum",
  },
  {
    name: "pa port out of range",
    base: "llama-kpa",
    mutate: (d) => (d.spec.metricsSources[0].port = "70000"),
    path: "spec.metricsSources[0].port",
    rule: "port-range",
  },
  {
    name: "pa resource metric gpu",
    base: "gateway-hpa",
    mutate: (d) => (d.spec.metricsSources[0].targetMetric = "gpu"),
    path: "spec.metricsSources[0].targetMetric",
    rule: "enum",
  },
  {
    name: "pa resource with port",
    base: "gateway-hpa",
    mutate: (d) => (d.spec.metricsSources[0].port = "8080"),
    path: "spec.metricsSources[0].port",
    rule: "forbidden",
  },
  {
    name: "pa external endpoint without path",
    base: "fleet-external",
    mutate: (d) => delete d.spec.metricsSources[0].path,
    path: "spec.metricsSources[0].path",
    rule: "required",
  },
  {
    name: "pa unknown source type",
    base: "llama-kpa",
    mutate: (d) => (d.spec.metricsSources[0].metricSourceType = "prometheus"),
    path: "spec.metricsSources[0].metricSourceType",
    rule: "enum",
  },
  {
    name: "pa HPA with subTargetSelector",
    base: "gateway-hpa",
    mutate: (d) => (d.spec.subTargetSelector = { roleName: "decode" }),
    path: "spec.subTargetSelector",
    rule: "forbidden-with-hpa",
  },
  {
    name: "pa scaleTargetRef without name",
    base: "llama-kpa",
    mutate: (d) => delete d.spec.scaleTargetRef.name,
    path: "spec.scaleTargetRef.name",
    rule: "required",
  },
  {
    name: "pa scaleTargetRef without kind",
    base: "llama-kpa",
    mutate: (d) => delete d.spec.scaleTargetRef.kind,
    path: "spec.scaleTargetRef.kind",
    rule: "required",
  },
  {
    name: "pa bad scale-up rate",
    base: "llama-kpa",
    mutate: (d) => (d.metadata.annotations["autoscaling.aibrix.ai/max-scale-up-rate"] = "fast"),
    path: 'metadata.annotations["autoscaling.aibrix.ai/max-scale-up-rate"]',
    rule: "float",
  },
  {
    name: "pa bad cooldown",
    base: "llama-kpa",
    mutate: (d) => (d.metadata.annotations["autoscaling.aibrix.ai/scale-down-cooldown-window"] = "5 minutes"),
    path: 'metadata.annotations["autoscaling.aibrix.ai/scale-down-cooldown-window"]',
    rule: "duration",
  },
  {
    name: "pa bad scale-to-zero",
    base: "qwen-apa",
    mutate: (d) => (d.metadata.annotations["autoscaling.aibrix.ai/scale-to-zero"] = "yes"),
    path: 'metadata.annotations["autoscaling.aibrix.ai/scale-to-zero"]',
    rule: "bool",
  },
  {
    name: "pa negative tolerance",
    base: "qwen-apa",
    mutate: (d) => (d.metadata.annotations["autoscaling.aibrix.ai/scale-up-tolerance"] = "-0.1"),
    path: 'metadata.annotations["autoscaling.aibrix.ai/scale-up-tolerance"]',
    rule: "float",
  },
  {
    name: "schedule bad name",
    base: "scheduled-kpa",
    mutate: (d) => (d.spec.schedules[0].name = "Business_Hours"),
    path: "spec.schedules[0].name",
    rule: "pattern",
  },
  {
    name: "schedule duplicate name",
    base: "scheduled-kpa",
    mutate: (d) => (d.spec.schedules[1].name = "business-hours"),
    path: "spec.schedules[1].name",
    rule: "unique",
  },
  {
    name: "schedule bad time",
    base: "scheduled-kpa",
    mutate: (d) => (d.spec.schedules[0].startTime = "8:00"),
    path: "spec.schedules[0].startTime",
    rule: "pattern",
  },
  {
    name: "schedule crosses midnight",
    base: "scheduled-kpa",
    mutate: (d) => ((d.spec.schedules[0].startTime = "22:00"), (d.spec.schedules[0].endTime = "06:00")),
    path: "spec.schedules[0].endTime",
    rule: "end-after-start",
  },
  {
    name: "schedule bad day",
    base: "scheduled-kpa",
    mutate: (d) => (d.spec.schedules[0].daysOfWeek[0] = "Monday"),
    path: "spec.schedules[0].daysOfWeek[0]",
    rule: "day-of-week",
  },
  {
    name: "schedule empty days",
    base: "scheduled-kpa",
    mutate: (d) => (d.spec.schedules[0].daysOfWeek = []),
    path: "spec.schedules[0].daysOfWeek",
    rule: "minItems",
  },
  {
    name: "schedule bad timezone",
    base: "scheduled-kpa",
    mutate: (d) => ((d.spec.schedules[0].timezone = "Mars/Olympus"), (d.spec.schedules[1].timezone = "Mars/Olympus")),
    path: "spec.schedules[0].timezone",
    rule: "iana-timezone",
  },
  {
    name: "schedules in two timezones",
    base: "scheduled-kpa",
    mutate: (d) => (d.spec.schedules[1].timezone = "UTC"),
    path: "spec.schedules",
    rule: "single-timezone",
  },
  {
    name: "schedule without bounds",
    base: "scheduled-kpa",
    mutate: (d) => delete d.spec.schedules[1].maxReplicas,
    path: "spec.schedules[1]",
    rule: "bounds-required",
  },
  {
    name: "schedule min > max",
    base: "scheduled-kpa",
    mutate: (d) => (d.spec.schedules[0].minReplicas = 12),
    path: "spec.schedules[0].minReplicas",
    rule: "min-le-max",
  },
  {
    name: "schedules overlap",
    base: "scheduled-kpa",
    mutate: (d) => (d.spec.schedules[1].daysOfWeek = ["Fri", "Sat"]),
    path: "spec.schedules[1]",
    rule: "no-overlap",
  },
  {
    name: "empty schedules list",
    base: "scheduled-kpa",
    mutate: (d) => (d.spec.schedules = []),
    path: "spec.schedules",
    rule: "minItems",
  },
  // RayClusterFleet / RayClusterReplicaSet
  {
    name: "fleet selector does not match template",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.template.metadata.labels["model.aibrix.ai/name"] = "other"),
    path: "spec.template.metadata.labels",
    rule: "selector-matches-template",
  },
  {
    name: "fleet without selector",
    base: "deepseek-fleet",
    mutate: (d) => delete d.spec.selector,
    path: "spec.selector",
    rule: "required",
  },
  {
    name: "fleet empty selector",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.selector = {}),
    path: "spec.selector",
    rule: "non-empty",
  },
  {
    name: "fleet without template",
    base: "deepseek-fleet",
    mutate: (d) => delete d.spec.template,
    path: "spec.template",
    rule: "required",
  },
  {
    name: "fleet without headGroupSpec",
    base: "deepseek-fleet",
    mutate: (d) => delete d.spec.template.spec.headGroupSpec,
    path: "spec.template.spec.headGroupSpec",
    rule: "required",
  },
  {
    name: "fleet bad maxSurge",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.strategy.rollingUpdate.maxSurge = "lots"),
    path: "spec.strategy.rollingUpdate.maxSurge",
    rule: "int-or-percent",
  },
  {
    name: "fleet maxSurge float",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.strategy.rollingUpdate.maxSurge = 1.5),
    path: "spec.strategy.rollingUpdate.maxSurge",
    rule: "int-or-string",
  },
  {
    name: "fleet both zero",
    base: "deepseek-fleet",
    mutate: (d) => (
      (d.spec.strategy.rollingUpdate.maxSurge = 0),
      (d.spec.strategy.rollingUpdate.maxUnavailable = "0%")
    ),
    path: "spec.strategy.rollingUpdate",
    rule: "progress-possible",
  },
  {
    name: "fleet maxUnavailable over 100%",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.strategy.rollingUpdate.maxUnavailable = "150%"),
    path: "spec.strategy.rollingUpdate.maxUnavailable",
    rule: "percent-le-100",
  },
  {
    name: "fleet Recreate with rollingUpdate",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.strategy.type = "Recreate"),
    path: "spec.strategy.rollingUpdate",
    rule: "forbidden-with-recreate",
  },
  {
    name: "fleet unknown strategy",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.strategy.type = "BlueGreen"),
    path: "spec.strategy.type",
    rule: "enum",
  },
  {
    name: "fleet negative replicas",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.replicas = -1),
    path: "spec.replicas",
    rule: "minimum",
  },
  {
    name: "fleet deadline below minReady",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.progressDeadlineSeconds = 5),
    path: "spec.progressDeadlineSeconds",
    rule: "gt-min-ready",
  },
  {
    name: "fleet replicas as string",
    base: "deepseek-fleet",
    mutate: (d) => (d.spec.replicas = "2"),
    path: "spec.replicas",
    rule: "type",
  },
  {
    name: "replicaset selector mismatch",
    base: "deepseek-fleet-7c9d8",
    mutate: (d) => (d.spec.template.metadata.labels["pod-template-hash"] = "other"),
    path: "spec.template.metadata.labels",
    rule: "selector-matches-template",
  },
  // KVCache
  {
    name: "kvcache unknown backend",
    base: "kvcache-vineyard",
    mutate: (d) => (d.metadata.annotations["kvcache.orchestration.aibrix.ai/backend"] = "mooncake"),
    path: 'metadata.annotations["kvcache.orchestration.aibrix.ai/backend"]',
    rule: "supported-backend",
  },
  {
    name: "kvcache unknown mode",
    base: "kvcache-vineyard",
    mutate: (d) => (d.spec.mode = "sharded"),
    path: "spec.mode",
    rule: "enum",
  },
  {
    name: "kvcache no service ports",
    base: "kvcache-vineyard",
    mutate: (d) => (d.spec.service.ports = []),
    path: "spec.service.ports",
    rule: "minItems",
  },
  {
    name: "kvcache port out of range",
    base: "kvcache-vineyard",
    mutate: (d) => (d.spec.service.ports[0].port = 70000),
    path: "spec.service.ports[0].port",
    rule: "maximum",
  },
  {
    name: "kvcache bad pull policy",
    base: "kvcache-vineyard",
    mutate: (d) => (d.spec.cache.imagePullPolicy = "Sometimes"),
    path: "spec.cache.imagePullPolicy",
    rule: "enum",
  },
  {
    name: "kvcache bad redis address",
    base: "kvcache-hpkv",
    mutate: (d) => (d.spec.metadata.redis.externalConnection.address = "redis.kvcache.svc"),
    path: "spec.metadata.redis.externalConnection.address",
    rule: "host-port",
  },
  {
    name: "kvcache external without address",
    base: "kvcache-hpkv",
    mutate: (d) => delete d.spec.metadata.redis.externalConnection.address,
    path: "spec.metadata.redis.externalConnection.address",
    rule: "required",
  },
  {
    name: "kvcache negative replicas",
    base: "kvcache-infinistore",
    mutate: (d) => (d.spec.cache.replicas = -2),
    path: "spec.cache.replicas",
    rule: "minimum",
  },
  // Envelope
  {
    name: "wrong apiVersion for our kind",
    base: "local-lora",
    mutate: (d) => (d.apiVersion = "model.aibrix.ai/v1"),
    path: "apiVersion",
    rule: "enum",
  },
  { name: "spec missing", base: "kvcache-vineyard", mutate: (d) => delete d.spec, path: "spec", rule: "required" },
];

function summary(problems: Problem[]): string {
  return problems.map((p) => `${p.path} [${p.rule}]`).join("; ") || "(none)";
}

describe("api/validate", () => {
  describe("valid AIBrix-style manifests", () => {
    for (const { file, doc } of validManifests()) {
      const name = (doc.metadata as { name: string }).name;
      it(`${file}: ${String(doc.kind)}/${name} is valid`, () => {
        const problems = validate(doc);
        expect(problems, summary(problems)).to.deep.equal([]);
      });
    }
  });

  describe("invalid variants name the field and the rule", () => {
    it("has at least 40 cases", () => expect(cases.length).to.be.at.least(40));
    for (const c of cases) {
      it(c.name, () => {
        const doc = fixture(c.base);
        c.mutate(doc);
        const problems = validate(doc);
        const match = problems.find((p) => p.path === c.path && p.rule === c.rule);
        expect(match, `expected ${c.path} [${c.rule}], got ${summary(problems)}`).to.not.equal(undefined);
        expect(match?.message).to.be.a("string").and.not.empty;
      });
    }
  });

  it("reports every problem at once, not just the first", () => {
    const doc = fixture("llama-kpa");
    doc.spec.minReplicas = 20;
    doc.spec.metricsSources[0].targetValue = "-3";
    doc.spec.scalingStrategy = "XPA";
    const rules = validate(doc).map((p) => p.rule);
    expect(rules).to.include.members(["min-le-max", "positive-number", "enum"]);
  });

  it("unknown kinds are reported as not ours", () => {
    const problems = validate({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" } });
    expect(problems).to.have.length(1);
    expect(problems[0]).to.include({ path: "kind", rule: "known-kind" });
  });

  it("non-objects get one clear problem", () => {
    for (const v of [null, 3, "text", [1, 2]]) expect(validate(v)[0]?.rule).to.equal("object");
  });

  it("warns about the legacy scale-down-delay key and accepts it", () => {
    const doc = fixture("llama-kpa");
    doc.metadata.annotations["kpa.autoscaling.aibrix.ai/scale-down-delay"] = "3m";
    expect(validate(doc)).to.deep.equal([]);
    expect(warnings(doc).map((w) => w.rule)).to.deep.equal(["deprecated"]);
    doc.metadata.annotations["kpa.autoscaling.aibrix.ai/scale-down-delay"] = "soon";
    expect(validate(doc).map((p) => p.rule)).to.include("duration");
  });

  describe("validateUpdate", () => {
    it("refuses a changed fleet selector", () => {
      const before = fixture("deepseek-fleet");
      const after = fixture("deepseek-fleet");
      after.spec.selector.matchLabels.tier = "gold";
      after.spec.template.metadata.labels.tier = "gold";
      const problems = validateUpdate(before, after);
      expect(problems.map((p) => `${p.path} [${p.rule}]`)).to.deep.equal(["spec.selector [immutable]"]);
    });

    it("refuses a changed KVCache backend, including through the legacy mode annotation", () => {
      const before = fixture("kvcache-infinistore");
      const after = fixture("kvcache-infinistore");
      after.metadata.annotations["kvcache.orchestration.aibrix.ai/mode"] = "centralized";
      expect(validateUpdate(before, after).map((p) => p.rule)).to.include("immutable");
    });

    it("accepts an ordinary update", () => {
      const before = fixture("llama-kpa");
      const after = fixture("llama-kpa");
      after.spec.maxReplicas = 12;
      expect(validateUpdate(before, after)).to.deep.equal([]);
    });
  });
});
