import type { TSchema } from "@sinclair/typebox";
import type { ProblemList } from "./problem.js";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface ScaleSubresource {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

/** Everything this package knows about one custom resource kind; CRD YAML, validation and defaults derive from it. */
export interface KindDefinition {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  schema: TSchema;
  scale?: ScaleSubresource;
  printerColumns: PrinterColumn[];
  /** Rules beyond the schema; runs only on objects that passed the schema's shape checks where it reads them. */
  rules(obj: Record<string, unknown>, problems: ProblemList): void;
  /** Things that are accepted but deserve a word (deprecated keys, legacy aliases). */
  warnings?(obj: Record<string, unknown>, problems: ProblemList): void;
  /** Defaults a schema cannot express (applied after the schema's own defaults). */
  defaults?(obj: Record<string, unknown>): void;
  /** Update rules: fields that may not change once stored. */
  immutable?(oldObj: Record<string, unknown>, newObj: Record<string, unknown>, problems: ProblemList): void;
}

export function apiVersionOf(def: KindDefinition): string {
  return `${def.group}/${def.version}`;
}
