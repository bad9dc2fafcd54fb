import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crdFiles, crdManifests } from "../../../api/index.js";

const CRD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../charts/aibrix-ts/crds");

/** Walks a structural schema, calling `visit` on every node with its path. */
function walk(node: unknown, at: string, visit: (n: Record<string, unknown>, at: string) => void): void {
  if (node === null || typeof node !== "object") return;
  const n = node as Record<string, unknown>;
  visit(n, at);
  for (const [k, v] of Object.entries((n.properties as Record<string, unknown>) ?? {})) walk(v, `${at}.${k}`, visit);
  if (n.items) walk(n.items, `${at}[]`, visit);
  if (n.additionalProperties && typeof n.additionalProperties === "object")
    walk(n.additionalProperties, `${at}{}`, visit);
}

describe("generated CRDs", () => {
  it("the chart's CRD files are up to date (run `npm run gen:crds` when this fails)", () => {
    const expected = crdFiles();
    const present = readdirSync(CRD_DIR)
      .filter((f) => f.endsWith(".yaml"))
      .sort();
    expect(present).to.deep.equal(expected.map((e) => e.file).sort());
    for (const { file, yaml } of expected) {
      expect(readFileSync(path.join(CRD_DIR, file), "utf8"), `${file} is stale: run npm run gen:crds`).to.equal(yaml);
    }
  });

  it("schemas are structural: every node typed, no additionalProperties:false or patternProperties, anyOf only for int-or-string", () => {
    for (const crd of crdManifests()) {
      const version = (crd.spec.versions as { schema: { openAPIV3Schema: unknown } }[])[0]!;
      walk(version.schema.openAPIV3Schema, crd.metadata.name, (n, at) => {
        const intOrString = n["x-kubernetes-int-or-string"] === true;
        if (!intOrString) expect(n.type, `${at} has no type`).to.be.a("string");
        expect(n.additionalProperties, `${at}`).to.not.equal(false);
        expect(n, `${at} uses patternProperties`).to.not.have.property("patternProperties");
        if (n.anyOf) expect(intOrString, `${at} uses anyOf`).to.equal(true);
        if (n.properties && n.additionalProperties) expect.fail(`${at} has both properties and additionalProperties`);
      });
    }
  });

  it("root apiVersion/kind/metadata carry only what the API server allows", () => {
    for (const crd of crdManifests()) {
      const root = (crd.spec.versions as { schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }[])[0]!
        .schema.openAPIV3Schema;
      expect(root.properties.apiVersion).to.deep.equal({ type: "string" });
      expect(root.properties.kind).to.deep.equal({ type: "string" });
      expect(root.properties.metadata).to.deep.equal({ type: "object" });
    }
  });

  it("RayClusterFleet has a scale subresource; every kind has status and printer columns", () => {
    for (const crd of crdManifests()) {
      const v = (
        crd.spec.versions as { subresources: Record<string, unknown>; additionalPrinterColumns: unknown[] }[]
      )[0]!;
      expect(v.subresources).to.have.property("status");
      expect(v.additionalPrinterColumns.length).to.be.greaterThan(2);
    }
    const fleet = crdManifests().find((c) => c.metadata.name === "rayclusterfleets.orchestration.aibrix.ai")!;
    expect((fleet.spec.versions as { subresources: Record<string, unknown> }[])[0]!.subresources.scale).to.deep.equal({
      specReplicasPath: ".spec.replicas",
      statusReplicasPath: ".status.replicas",
      labelSelectorPath: ".status.scalingTargetSelector",
    });
  });
});
