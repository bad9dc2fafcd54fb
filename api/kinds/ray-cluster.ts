// RayClusterFleet (Deployment semantics over KubeRay RayClusters) and the RayClusterReplicaSet it owns.
import { Type, type Static } from "@sinclair/typebox";
import { ORCHESTRATION_GROUP } from "../labels.js";
import type { KindDefinition } from "../kind.js";
import type { ProblemList } from "../problem.js";
import { Embedded, Int32, Int64, IntOrString, LabelSelector, Obj, Resource, StringEnum } from "../schema.js";
import { checkLabelSelector, isEmptySelector, isRecord, parseIntOrPercent, selectorMatches } from "../semantics.js";

export const RayClusterTemplateSpec = Obj({
  metadata: Type.Optional(Embedded("Labels and annotations copied to every RayCluster.")),
  spec: Embedded("A ray.io/v1 RayClusterSpec (headGroupSpec, workerGroupSpecs, rayVersion, ...)."),
});

export const DeploymentStrategy = Obj({
  type: Type.Optional(StringEnum(["Recreate", "RollingUpdate"] as const)),
  rollingUpdate: Type.Optional(
    Obj({
      maxSurge: Type.Optional(
        IntOrString({ description: "Extra RayClusters during a rollout: an integer or a percent." }),
      ),
      maxUnavailable: Type.Optional(IntOrString({ description: "Unavailable RayClusters allowed during a rollout." })),
    }),
  ),
});

/** apps/v1 DeploymentCondition shape. */
export const DeploymentCondition = Obj({
  type: Type.String(),
  status: StringEnum(["True", "False", "Unknown"] as const),
  lastUpdateTime: Type.Optional(Type.String({ format: "date-time" })),
  lastTransitionTime: Type.Optional(Type.String({ format: "date-time" })),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});

export const RayClusterFleetSpec = Obj({
  replicas: Type.Optional(Int32({ minimum: 0, default: 1 })),
  selector: LabelSelector,
  template: RayClusterTemplateSpec,
  strategy: Type.Optional(DeploymentStrategy),
  minReadySeconds: Type.Optional(Int32({ minimum: 0 })),
  revisionHistoryLimit: Type.Optional(Int32({ minimum: 0, default: 10 })),
  paused: Type.Optional(Type.Boolean()),
  progressDeadlineSeconds: Type.Optional(Int32({ minimum: 1, default: 600 })),
});

export const RayClusterFleetStatus = Obj({
  observedGeneration: Type.Optional(Int64()),
  replicas: Type.Optional(Int32()),
  updatedReplicas: Type.Optional(Int32()),
  readyReplicas: Type.Optional(Int32()),
  availableReplicas: Type.Optional(Int32()),
  unavailableReplicas: Type.Optional(Int32()),
  collisionCount: Type.Optional(Int32()),
  scalingTargetSelector: Type.Optional(Type.String()),
  conditions: Type.Optional(Type.Array(DeploymentCondition)),
});

export const RayClusterFleetSchema = Resource(
  `${ORCHESTRATION_GROUP}/v1alpha1`,
  "RayClusterFleet",
  RayClusterFleetSpec,
  RayClusterFleetStatus,
  { description: "A set of identical KubeRay RayClusters rolled out like a Deployment rolls out pods." },
);

export const RayClusterReplicaSetSpec = Obj({
  replicas: Type.Optional(Int32({ minimum: 0, default: 1 })),
  minReadySeconds: Type.Optional(Int32({ minimum: 0 })),
  selector: LabelSelector,
  template: Type.Optional(RayClusterTemplateSpec),
});

export const RayClusterReplicaSetStatus = Obj({
  replicas: Int32(),
  fullyLabeledReplicas: Type.Optional(Int32()),
  readyReplicas: Type.Optional(Int32()),
  availableReplicas: Type.Optional(Int32()),
  observedGeneration: Type.Optional(Int64()),
  conditions: Type.Optional(Type.Array(DeploymentCondition)),
});

export const RayClusterReplicaSetSchema = Resource(
  `${ORCHESTRATION_GROUP}/v1alpha1`,
  "RayClusterReplicaSet",
  RayClusterReplicaSetSpec,
  RayClusterReplicaSetStatus,
  { description: "Keeps a number of identical RayClusters running (owned by a RayClusterFleet)." },
);

export type RayClusterFleet = Static<typeof RayClusterFleetSchema>;
export type RayClusterReplicaSet = Static<typeof RayClusterReplicaSetSchema>;

/** Rollouts default to RollingUpdate 25%/25%: an empty strategy type would never roll a template change out. */
export const DEFAULT_ROLLING_UPDATE = { maxSurge: "25%", maxUnavailable: "25%" } as const;

function checkSelectorMatchesTemplate(spec: Record<string, unknown>, problems: ProblemList): void {
  checkLabelSelector(spec.selector, "spec.selector", problems);
  const selector = spec.selector;
  if (!isRecord(selector)) return;
  const typed = selector as LabelSelector;
  if (isEmptySelector(typed)) {
    problems.add("spec.selector", selector, "non-empty", "selector must have matchLabels or matchExpressions");
    return;
  }
  const template = spec.template;
  if (!isRecord(template)) return;
  const labels = isRecord(template.metadata) && isRecord(template.metadata.labels) ? template.metadata.labels : {};
  const stringLabels = Object.fromEntries(Object.entries(labels).filter(([, v]) => typeof v === "string")) as Record<
    string,
    string
  >;
  if (!selectorMatches(typed, stringLabels)) {
    problems.add(
      "spec.template.metadata.labels",
      labels,
      "selector-matches-template",
      "must match spec.selector, or the fleet could never find its RayClusters",
    );
  }
}

function checkTemplate(spec: Record<string, unknown>, problems: ProblemList): void {
  const template = spec.template;
  if (!isRecord(template) || !isRecord(template.spec)) return;
  if (!isRecord(template.spec.headGroupSpec)) {
    problems.add(
      "spec.template.spec.headGroupSpec",
      template.spec.headGroupSpec,
      "required",
      "a RayClusterSpec needs headGroupSpec",
    );
  }
}

function checkStrategy(spec: Record<string, unknown>, problems: ProblemList): void {
  const strategy = spec.strategy;
  if (!isRecord(strategy)) return;
  const rolling = strategy.rollingUpdate;
  if (strategy.type === "Recreate" && rolling !== undefined) {
    problems.add(
      "spec.strategy.rollingUpdate",
      rolling,
      "forbidden-with-recreate",
      'may only be set when strategy.type is "RollingUpdate"',
    );
  }
  if (!isRecord(rolling)) return;
  const parsed: Record<string, { percent: boolean; n: number } | undefined> = {};
  for (const field of ["maxSurge", "maxUnavailable"] as const) {
    const value = rolling[field];
    if (value === undefined) continue;
    parsed[field] = parseIntOrPercent(value);
    if (!parsed[field]) {
      problems.add(
        `spec.strategy.rollingUpdate.${field}`,
        value,
        "int-or-percent",
        'must be a non-negative integer or a percent such as "25%"',
      );
    } else if (parsed[field].percent && parsed[field].n > 100 && field === "maxUnavailable") {
      problems.add(`spec.strategy.rollingUpdate.${field}`, value, "percent-le-100", "must not exceed 100%");
    }
  }
  if (parsed.maxSurge?.n === 0 && parsed.maxUnavailable?.n === 0) {
    problems.add(
      "spec.strategy.rollingUpdate",
      rolling,
      "progress-possible",
      "maxSurge and maxUnavailable cannot both be 0: the rollout could never progress",
    );
  }
}

function checkDeadline(spec: Record<string, unknown>, problems: ProblemList): void {
  const deadline = spec.progressDeadlineSeconds;
  const minReady = typeof spec.minReadySeconds === "number" ? spec.minReadySeconds : 0;
  if (typeof deadline === "number" && deadline <= minReady) {
    problems.add(
      "spec.progressDeadlineSeconds",
      deadline,
      "gt-min-ready",
      `must be greater than spec.minReadySeconds (${minReady})`,
    );
  }
}

function selectorUnchanged(
  oldObj: Record<string, unknown>,
  newObj: Record<string, unknown>,
  problems: ProblemList,
): void {
  const before = isRecord(oldObj.spec) ? oldObj.spec.selector : undefined;
  const after = isRecord(newObj.spec) ? newObj.spec.selector : undefined;
  if (JSON.stringify(before) !== JSON.stringify(after)) {
    problems.add(
      "spec.selector",
      after,
      "immutable",
      "spec.selector cannot change after creation; create a new object instead",
    );
  }
}

export const rayClusterFleetKind: KindDefinition = {
  group: ORCHESTRATION_GROUP,
  version: "v1alpha1",
  kind: "RayClusterFleet",
  plural: "rayclusterfleets",
  singular: "rayclusterfleet",
  shortNames: ["rcf"],
  schema: RayClusterFleetSchema,
  scale: {
    specReplicasPath: ".spec.replicas",
    statusReplicasPath: ".status.replicas",
    labelSelectorPath: ".status.scalingTargetSelector",
  },
  printerColumns: [
    { name: "Desired", type: "integer", jsonPath: ".spec.replicas" },
    { name: "Ready", type: "integer", jsonPath: ".status.readyReplicas" },
    { name: "Up-to-date", type: "integer", jsonPath: ".status.updatedReplicas" },
    { name: "Available", type: "integer", jsonPath: ".status.availableReplicas" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
  rules(obj, problems) {
    const spec = obj.spec;
    if (!isRecord(spec)) return;
    checkSelectorMatchesTemplate(spec, problems);
    checkTemplate(spec, problems);
    checkStrategy(spec, problems);
    checkDeadline(spec, problems);
  },
  defaults(obj) {
    const spec = obj.spec;
    if (!isRecord(spec)) return;
    if (spec.strategy === undefined) spec.strategy = {};
    const strategy = spec.strategy;
    if (!isRecord(strategy)) return;
    if (strategy.type === undefined) strategy.type = "RollingUpdate";
    if (strategy.type === "RollingUpdate") {
      if (strategy.rollingUpdate === undefined) strategy.rollingUpdate = {};
      const rolling = strategy.rollingUpdate;
      if (isRecord(rolling)) {
        rolling.maxSurge ??= DEFAULT_ROLLING_UPDATE.maxSurge;
        rolling.maxUnavailable ??= DEFAULT_ROLLING_UPDATE.maxUnavailable;
      }
    }
  },
  immutable: selectorUnchanged,
};

export const rayClusterReplicaSetKind: KindDefinition = {
  group: ORCHESTRATION_GROUP,
  version: "v1alpha1",
  kind: "RayClusterReplicaSet",
  plural: "rayclusterreplicasets",
  singular: "rayclusterreplicaset",
  shortNames: ["rcrs"],
  schema: RayClusterReplicaSetSchema,
  printerColumns: [
    { name: "Desired", type: "integer", jsonPath: ".spec.replicas" },
    { name: "Current", type: "integer", jsonPath: ".status.replicas" },
    { name: "Ready", type: "integer", jsonPath: ".status.readyReplicas" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
  rules(obj, problems) {
    const spec = obj.spec;
    if (!isRecord(spec)) return;
    if (spec.template !== undefined) checkSelectorMatchesTemplate(spec, problems);
    else checkLabelSelector(spec.selector, "spec.selector", problems);
    checkTemplate(spec, problems);
  },
  immutable: selectorUnchanged,
};
