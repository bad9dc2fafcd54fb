import { stringify } from "yaml";
import { apiVersionOf, type KindDefinition } from "./kind.js";
import { KINDS } from "./registry.js";
import { toStructural } from "./schema.js";

export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

/** The CRD for one kind, from its one schema: structural openAPIV3Schema, subresources, printer columns. */
export function crdFor(def: KindDefinition): CustomResourceDefinition {
  const subresources: Record<string, unknown> = { status: {} };
  if (def.scale) subresources.scale = { ...def.scale };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${def.plural}.${def.group}`,
      labels: { "app.kubernetes.io/part-of": "aibrix-ts" },
    },
    spec: {
      group: def.group,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        ...(def.shortNames ? { shortNames: def.shortNames } : {}),
        categories: ["aibrix"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: def.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: rootSchema(def) },
          subresources,
          additionalPrinterColumns: def.printerColumns,
        },
      ],
    },
  };
}

/**
 * At the root of a CRD schema the API server allows only `type` for apiVersion and kind, and only name/generateName
 * restrictions on metadata; it checks those itself.
 */
function rootSchema(def: KindDefinition): Record<string, unknown> {
  const structural = toStructural(def.schema) as { properties: Record<string, unknown>; required?: string[] };
  structural.properties.apiVersion = { type: "string" };
  structural.properties.kind = { type: "string" };
  structural.properties.metadata = { type: "object" };
  structural.required = (structural.required ?? []).filter(
    (r) => r !== "apiVersion" && r !== "kind" && r !== "metadata",
  );
  return structural;
}

export function crdManifests(): CustomResourceDefinition[] {
  return KINDS.map(crdFor);
}

/** File name and YAML text of every generated CRD (`<group>_<plural>.yaml`), as written to the chart. */
export function crdFiles(): { file: string; yaml: string; apiVersion: string }[] {
  return KINDS.map((def) => ({
    file: `${def.group}_${def.plural}.yaml`,
    apiVersion: apiVersionOf(def),
    yaml: "# Generated from api/ by `npm run gen:crds`. Do not edit.\n" + stringify(crdFor(def), { lineWidth: 0 }),
  }));
}
