import { expect } from "chai";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadProfilesFile, parseProfiles, ProfileError, profileFacts } from "../../../api/gpu-profile.js";
import { parseRecommendations, RecommendationError } from "../../../api/gpu-recommendation.js";
import { fleetProfiles, PRODUCTS, PROFILE_YAML } from "../extender/fleet.js";

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(Error);
    return (err as Error).message;
  }
  throw new Error("expected a validation error");
}

describe("GPU profiles", () => {
  it("maps node label values to GPU types and computes per-type facts", () => {
    const p = fleetProfiles();
    expect(p.gpuType(PRODUCTS.H100)).to.equal("H100");
    expect(p.gpuType("A100-80GB")).to.equal("A100-80GB");
    expect(p.gpuType("NVIDIA-B200")).to.equal("NVIDIA-B200");
    const h100 = p.profile("llama-8b", "H100")!;
    expect(h100.maxThroughput).to.equal(40);
    // mean tokens/s over the four feasible buckets: (40*132 + 20*260 + 30*136 + 10*264) / 4 = 4300
    expect(h100.meanTokensPerSecond).to.equal(4300);
    expect(h100.costPerMillionTokens).to.be.closeTo((4 / 3600 / 4300) * 1e6, 1e-9);
    expect(p.profile("llama-8b", "A10G")!.maxThroughput).to.equal(0);
    expect(p.profile("llama-8b", "A10G")!.costPerMillionTokens).to.equal(Infinity);
    expect(p.modelMemoryGiB("llama-70b")).to.equal(140);
    expect(p.gpuMemoryGiB("L4")).to.equal(24);
    expect(p.hasModel("mistral")).to.equal(false);
  });

  it("reads the upstream profile fields unchanged (JSON works as well as YAML)", () => {
    const doc = {
      gpus: { "A100-80GB": { memoryGiB: 80 } },
      models: {
        m: {
          profiles: [
            {
              gpu: "A100-80GB",
              cost: 3.67,
              tputs: [[62.5, 4.3]],
              indexes: [[4], [128, 2048]],
              e2e: [[1.1, 4.9]],
              slos: { percentile: 99, e2e: 5.0 },
              created: 1730000000,
            },
          ],
        },
      },
    };
    const p = parseProfiles(JSON.stringify(doc));
    expect(p.doc.models.m!.profiles[0]!.slos).to.deep.equal({ percentile: 99, e2e: 5 });
    expect(profileFacts(p.doc.models.m!.profiles[0]!).maxThroughput).to.equal(62.5);
  });

  it("names field, value and rule for every bad entry", () => {
    const bad = `
gpus:
  H100: { memoryGiB: -1, products: [X] }
  A100: { products: [X] }
models:
  m:
    profiles:
      - { gpu: B200, cost: -2, tputs: [[1, 2]], indexes: [[4], [128]] }
      - { gpu: H100, cost: 1, tputs: "fast", indexes: [[4], [128]] }
`;
    const msg = problemsOf(() => parseProfiles(bad, "bad.yaml"));
    expect(msg).to.contain("bad.yaml");
    expect(msg).to.contain('gpus.H100.memoryGiB: -1 breaks rule "non-negative number"');
    expect(msg).to.contain('gpus.A100.products: "X" breaks rule "unique product"');
    expect(msg).to.contain('models.m.profiles[0].gpu: "B200" breaks rule "known GPU type"');
    expect(msg).to.contain('models.m.profiles[0].cost: -2 breaks rule "non-negative number"');
    expect(msg).to.contain('models.m.profiles[0].tputs[0]: "2 columns" breaks rule "columns = input buckets"');
    expect(msg).to.contain('models.m.profiles[1].tputs: "fast" breaks rule "matrix"');
  });

  it("rejects a document that is not YAML or lacks models", () => {
    expect(() => parseProfiles("gpus: [unclosed")).to.throw(ProfileError, /syntax/);
    expect(problemsOf(() => parseProfiles("gpus: {}"))).to.contain('models: (absent) breaks rule "object"');
    expect(problemsOf(() => parseProfiles("- 1"))).to.contain('breaks rule "object"');
  });

  it("loads from a file", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "profiles-"));
    try {
      const file = path.join(dir, "profiles.yaml");
      await writeFile(file, PROFILE_YAML);
      const p = await loadProfilesFile(file);
      expect(p.profile("llama-70b", "L4")!.costPerHour).to.equal(0.8);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("GPU mix recommendations", () => {
  it("parses and looks up by namespace/deployment", () => {
    const r = parseRecommendations(
      JSON.stringify({
        recommendations: [{ namespace: "default", deployment: "llama", recommended: { A10G: 3, "A100-80GB": 1 } }],
      }),
    );
    expect(r.get("default", "llama")!.recommended).to.deep.equal({ A10G: 3, "A100-80GB": 1 });
    expect(r.getByKey("default/llama")).to.equal(r.get("default", "llama"));
    expect(r.get("other", "llama")).to.equal(undefined);
  });

  it("names the bad field", () => {
    const msg = problemsOf(() =>
      parseRecommendations(
        JSON.stringify({
          recommendations: [
            { namespace: "", deployment: "x", recommended: { H100: 1.5 } },
            { namespace: "a", deployment: "x", recommended: [] },
          ],
        }),
      ),
    );
    expect(msg).to.contain('recommendations[0].namespace: "" breaks rule "required string"');
    expect(msg).to.contain('recommendations[0].recommended.H100: 1.5 breaks rule "integer >= 0"');
    expect(msg).to.contain('recommendations[1].recommended: [] breaks rule "object"');
    expect(() => parseRecommendations("{}")).to.throw(RecommendationError, /recommendations/);
  });
});
