// Building blocks for CRD schemas: TypeBox types that are also valid Kubernetes *structural* schemas once
// `toStructural` has run (no `additionalProperties: false`, int-or-string and preserve-unknown markers kept).
import { Type, type Static, type TSchema, type TUnsafe, type ObjectOptions, type TProperties } from "@sinclair/typebox";

/** A string enum emitted as `{type: string, enum: [...]}` (TypeBox unions of literals would become `anyOf`). */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description?: string; default?: T[number] } = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

/** Kubernetes int-or-string (e.g. `maxSurge: 1` or `"25%"`). */
export function IntOrString(options: { description?: string } = {}): TUnsafe<number | string> {
  return Type.Unsafe<number | string>({
    "x-kubernetes-int-or-string": true,
    anyOf: [{ type: "integer" }, { type: "string" }],
    ...options,
  });
}

/** An embedded upstream object (PodTemplateSpec, RayClusterSpec, ResourceRequirements, ...) kept as-is. */
export function Embedded(description: string): TUnsafe<Record<string, unknown>> {
  return Type.Unsafe<Record<string, unknown>>({
    type: "object",
    "x-kubernetes-preserve-unknown-fields": true,
    description,
  });
}

/** A closed object: unknown fields are reported by `validate` (the API server would prune them silently). */
export function Obj<T extends TProperties>(properties: T, options: ObjectOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

export const Int32 = (options: { minimum?: number; maximum?: number; default?: number; description?: string } = {}) =>
  Type.Integer({ format: "int32", ...options });
export const Int64 = (options: { minimum?: number; maximum?: number; default?: number; description?: string } = {}) =>
  Type.Integer({ format: "int64", ...options });

export const StringMap = (description: string) => Type.Record(Type.String(), Type.String(), { description });

export const LabelSelectorRequirement = Obj({
  key: Type.String(),
  operator: StringEnum(["In", "NotIn", "Exists", "DoesNotExist"] as const),
  values: Type.Optional(Type.Array(Type.String())),
});

export const LabelSelector = Obj(
  {
    matchLabels: Type.Optional(StringMap("label key/value pairs that must all match")),
    matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirement)),
  },
  { description: "A label query over a set of resources (metav1.LabelSelector)." },
);
export type LabelSelector = Static<typeof LabelSelector>;

export const ObjectReference = Obj({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  fieldPath: Type.Optional(Type.String()),
});

/** metav1.Condition */
export const Condition = Obj({
  type: Type.String({ maxLength: 316 }),
  status: StringEnum(["True", "False", "Unknown"] as const),
  observedGeneration: Type.Optional(Int64({ minimum: 0 })),
  lastTransitionTime: Type.String({ format: "date-time" }),
  reason: Type.String({ maxLength: 1024 }),
  message: Type.String({ maxLength: 32768 }),
});
export type Condition = Static<typeof Condition>;

/** The common envelope of a namespaced custom resource. */
export function Resource<S extends TSchema, St extends TSchema>(
  apiVersion: string,
  kind: string,
  spec: S,
  status: St,
  options: { specRequired?: boolean; description: string },
) {
  return Type.Object(
    {
      apiVersion: Type.Literal(apiVersion),
      kind: Type.Literal(kind),
      metadata: Embedded("Standard object metadata."),
      spec: options.specRequired === false ? Type.Optional(spec) : spec,
      status: Type.Optional(status),
    },
    { description: options.description },
  );
}

const DROP_KEYS = new Set(["$id", "$schema", "const"]);

/**
 * The same schema as a Kubernetes structural schema: `additionalProperties: false` dropped (forbidden there),
 * literals turned into single-value enums, everything else kept. Pure JSON out.
 */
export function toStructural(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toStructural);
  if (schema === null || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DROP_KEYS.has(key)) continue;
    if (key === "additionalProperties" && value === false) continue;
    if (key === "properties") {
      out[key] = Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, toStructural(v)]));
      continue;
    }
    if (key === "patternProperties") {
      // A map (TypeBox Record): Kubernetes has no patternProperties, only additionalProperties with a value schema.
      const valueSchemas = Object.values(value as object);
      if (valueSchemas.length === 1) out.additionalProperties = toStructural(valueSchemas[0]);
      continue;
    }
    out[key] = toStructural(value);
  }
  const source = schema as Record<string, unknown>;
  if ("const" in source) {
    out.enum = [source.const];
    out.type ??= typeof source.const === "number" ? "number" : typeof source.const;
  }
  return out;
}
