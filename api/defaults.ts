import { Value } from "@sinclair/typebox/value";
import { kindInfo } from "./registry.js";
import { isRecord } from "./semantics.js";

/**
 * The object as it would be stored: the schema's defaults (what the API server applies from the CRD) plus the
 * defaults a schema cannot express. Returns a new object; the input is not changed. Idempotent.
 * Runtime defaults the controllers apply without storing them (e.g. PodAutoscaler windows) are not added.
 */
export function withDefaults<T>(obj: T): T {
  const copy = structuredCloneSafe(obj);
  if (!isRecord(copy)) return copy;
  const def = kindInfo(copy.apiVersion, copy.kind);
  if (!def) return copy;
  let out: unknown = copy;
  try {
    out = Value.Default(def.schema, copy);
  } catch {
    // A shape the schema cannot walk gets no schema defaults; validate() reports why.
  }
  if (isRecord(out)) {
    try {
      def.defaults?.(out);
    } catch {
      // Same: defaults never turn bad input into an exception.
    }
  }
  return out as T;
}

function structuredCloneSafe<T>(value: T): T {
  try {
    return structuredClone(value);
  } catch {
    return JSON.parse(JSON.stringify(value ?? null)) as T;
  }
}
