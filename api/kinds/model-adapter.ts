import { Type, type Static } from "@sinclair/typebox";
import { MODEL_GROUP } from "../labels.js";
import type { KindDefinition } from "../kind.js";
import { Condition, Int32, LabelSelector, Obj, Resource, StringEnum, StringMap } from "../schema.js";
import { checkLabelSelector, isRecord } from "../semantics.js";

export const ADAPTER_ARTIFACT_SCHEMES = ["s3://", "gcs://", "tos://", "huggingface://", "hf://"] as const;

export const ModelAdapterPhases = [
  "Pending",
  "Scheduled",
  "Bound",
  "ResourceCreated",
  "Running",
  "Failed",
  "Unknown",
  "Scaled",
] as const;

export const ModelAdapterSpec = Obj({
  baseModel: Type.Optional(Type.String({ description: "Base model served by the candidate pods." })),
  podSelector: LabelSelector,
  schedulerName: Type.Optional(
    Type.String({ default: "default", description: "Adapter placement policy (not a kube scheduler)." }),
  ),
  artifactURL: Type.String({
    minLength: 1,
    description: "Where the adapter weights live: s3://, gcs://, tos://, huggingface://, hf:// or an absolute path.",
  }),
  credentialsSecretRef: Type.Optional(Obj({ name: Type.String({ minLength: 1 }) })),
  // The wire schema says `enum: [1]`: either every matching pod (unset) or exactly one.
  replicas: Type.Optional(
    Type.Integer({
      format: "int32",
      enum: [1],
      description: "Unset: load on every matching pod. 1: one pod chosen by the placement policy.",
    }),
  ),
  additionalConfig: Type.Optional(StringMap("Extra settings; key api-key is sent to the engine as a bearer token.")),
});

export const ModelAdapterStatus = Obj({
  phase: Type.Optional(StringEnum(ModelAdapterPhases)),
  conditions: Type.Optional(Type.Array(Condition)),
  instances: Type.Optional(Type.Array(Type.String())),
  // An integer, as upstream's status: the number of pods matching the selector that could hold the adapter.
  candidates: Type.Optional(Int32()),
  readyReplicas: Type.Optional(Int32()),
  desiredReplicas: Type.Optional(Int32()),
});

export const ModelAdapterSchema = Resource(
  `${MODEL_GROUP}/v1alpha1`,
  "ModelAdapter",
  ModelAdapterSpec,
  ModelAdapterStatus,
  {
    description: "A LoRA adapter placed on, and loaded into, engine pods of a base model.",
  },
);

export type ModelAdapter = Static<typeof ModelAdapterSchema>;
export type ModelAdapterSpec = Static<typeof ModelAdapterSpec>;

export function artifactUrlProblem(url: string): string | undefined {
  if (url.startsWith("/")) return undefined;
  const scheme = ADAPTER_ARTIFACT_SCHEMES.find((s) => url.startsWith(s));
  if (!scheme) {
    return `must start with one of ${ADAPTER_ARTIFACT_SCHEMES.join(", ")} or be an absolute path (/...)`;
  }
  try {
    new URL(url.replace(/^hf:\/\//, "huggingface://"));
  } catch {
    return "must parse as a URI";
  }
  if (url.length === scheme.length) return `must name a location after ${scheme}`;
  return undefined;
}

export const modelAdapterKind: KindDefinition = {
  group: MODEL_GROUP,
  version: "v1alpha1",
  kind: "ModelAdapter",
  plural: "modeladapters",
  singular: "modeladapter",
  shortNames: ["adapter"],
  schema: ModelAdapterSchema,
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Desired", type: "integer", jsonPath: ".status.desiredReplicas" },
    { name: "Ready", type: "integer", jsonPath: ".status.readyReplicas" },
    { name: "Candidates", type: "integer", jsonPath: ".status.candidates" },
    { name: "Model Path", type: "string", jsonPath: ".spec.artifactURL" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
  rules(obj, problems) {
    const spec = obj.spec;
    if (!isRecord(spec)) return;
    if (typeof spec.artifactURL === "string" && spec.artifactURL.length > 0) {
      const why = artifactUrlProblem(spec.artifactURL);
      if (why) problems.add("spec.artifactURL", spec.artifactURL, "artifact-url-scheme", why);
    }
    checkLabelSelector(spec.podSelector, "spec.podSelector", problems);
  },
};
