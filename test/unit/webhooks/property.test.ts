// Random pods and random custom-resource documents: the handler never throws or answers non-200, its patches
// always apply, and mutating the mutated object changes nothing.
import { expect } from "chai";
import fc from "fast-check";
import { admit } from "../../../webhooks/admission.js";
import { StaticClusterLookup } from "../../../webhooks/cluster.js";
import { applied, deps, patchOf, review, validManifests, type Json } from "./fixtures.js";

const lookup = new StaticClusterLookup();
lookup.kvCaches.set("default/kvc", {
  metadata: { name: "kvc", annotations: { "kvcache.orchestration.aibrix.ai/backend": "infinistore" } },
  status: { current: 1 },
});
const d = deps(lookup);

const labelValue = fc.constantFrom("true", "false", "", "llama", "8000", "x/y", "sglang", "kvc", "99999");
const meta = fc.record(
  {
    labels: fc.dictionary(
      fc.constantFrom(
        "model.aibrix.ai/name",
        "model.aibrix.ai/port",
        "model.aibrix.ai/engine",
        "kvcache.orchestration.aibrix.ai/kvcache-name",
        "app",
      ),
      labelValue,
    ),
    annotations: fc.dictionary(
      fc.constantFrom(
        "model.aibrix.ai/sidecar-injection",
        "model.aibrix.ai/sidecar-runtime-image",
        "model.aibrix.ai/name",
        "kubernetes.io/config.mirror",
      ),
      labelValue,
    ),
    name: fc.string({ maxLength: 8 }),
  },
  { requiredKeys: [] },
);
const quantity = fc.oneof(
  fc.constantFrom("0", "1", "2", "500m", "x"),
  fc.integer({ min: -1, max: 4 }),
  fc.constant(null),
);
const container = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        name: fc.constantFrom("vllm", "engine", "aibrix-runtime", "side"),
        image: fc.constantFrom("vllm/vllm-openai", "lmsysorg/sglang", "busybox", "llama-cpp"),
        resources: fc.record(
          { limits: fc.dictionary(fc.constantFrom("nvidia.com/gpu", "cpu", "amd.com/gpu"), quantity) },
          { requiredKeys: [] },
        ),
        env: fc.oneof(
          fc.constant(undefined),
          fc.constant(null),
          fc.array(
            fc.record({
              name: fc.constantFrom("A", "AIBRIX_KV_CACHE_OL_META_SERVICE_URL"),
              value: fc.string({ maxLength: 3 }),
            }),
            { maxLength: 2 },
          ),
        ),
        volumeMounts: fc.oneof(
          fc.constant(undefined),
          fc.array(
            fc.record({
              name: fc.constantFrom("adapter-storage", "data"),
              mountPath: fc.constantFrom("/tmp/aibrix/adapters", "/data"),
            }),
            { maxLength: 2 },
          ),
        ),
      },
      { requiredKeys: ["name"] },
    ),
  },
  { weight: 1, arbitrary: fc.anything() },
);
const podSpec = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        containers: fc.oneof(
          { weight: 6, arbitrary: fc.array(container, { maxLength: 3 }) },
          { weight: 1, arbitrary: fc.anything() },
        ),
        initContainers: fc.array(container, { maxLength: 1 }),
        volumes: fc.oneof(
          fc.constant(undefined),
          fc.constant(null),
          fc.array(fc.record({ name: fc.constantFrom("adapter-storage", "data") }), { maxLength: 2 }),
        ),
        schedulerName: fc.oneof(fc.constant(undefined), fc.constantFrom("default-scheduler", "", "volcano")),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.anything() },
);
const pod = fc.record({ metadata: meta, spec: podSpec }).map((p) => ({ apiVersion: "v1", kind: "Pod", ...p }) as Json);
const deployment = fc.record({ metadata: meta, tmeta: meta, spec: podSpec }).map(
  (x) =>
    ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: x.metadata,
      spec: { template: { metadata: x.tmeta, spec: x.spec } },
    }) as Json,
);

async function mutateIdempotently(obj: Json): Promise<void> {
  const first = await admit(d, "mutate", Buffer.from(JSON.stringify(review(obj))));
  expect(first.status).to.equal(200);
  if (first.status !== 200) return;
  expect(first.body.response.allowed).to.equal(true);
  const once = applied(obj, patchOf(first.body.response));
  const second = await admit(d, "mutate", Buffer.from(JSON.stringify(review(once))));
  expect(second.status).to.equal(200);
  if (second.status === 200) expect(patchOf(second.body.response)).to.deep.equal([]);
}

describe("webhooks: properties", function () {
  // Key generation and hundreds of random cases: slow on a busy machine, never stuck.
  this.timeout(30_000);
  it("random pods: never crash, patches apply, mutation is idempotent", async () => {
    await fc.assert(fc.asyncProperty(pod, mutateIdempotently), { numRuns: 400 });
  });

  it("random Deployments: never crash, patches apply, mutation is idempotent", async () => {
    await fc.assert(fc.asyncProperty(deployment, mutateIdempotently), { numRuns: 200 });
  });

  it("random custom-resource documents (valid ones perturbed, and noise): 200 with a decision, defaults idempotent", async () => {
    const seeds = validManifests();
    const perturbed = fc
      .tuple(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.constantFrom("spec", "metadata", "status"), fc.string({ maxLength: 12 }), fc.anything()), {
          maxLength: 3,
        }),
      )
      .map(([seed, edits]) => {
        const doc = structuredClone(seed);
        for (const [top, key, value] of edits) {
          const target = doc[top];
          if (target && typeof target === "object" && !Array.isArray(target)) (target as Json)[key] = value;
          else doc[top] = value;
        }
        return doc;
      });
    const noise = fc.record({
      apiVersion: fc.constantFrom(
        "model.aibrix.ai/v1alpha1",
        "autoscaling.aibrix.ai/v1alpha1",
        "orchestration.aibrix.ai/v1alpha1",
      ),
      kind: fc.constantFrom("ModelAdapter", "PodAutoscaler", "RayClusterFleet", "RayClusterReplicaSet", "KVCache"),
      metadata: fc.anything(),
      spec: fc.anything(),
    }) as fc.Arbitrary<Json>;
    await fc.assert(
      fc.asyncProperty(fc.oneof(perturbed, noise), async (doc) => {
        const body = Buffer.from(JSON.stringify(review(doc)));
        const v = await admit(d, "validate", body);
        expect(v.status).to.equal(200);
        if (v.status === 200) {
          expect(v.body.response.uid).to.equal("6b1c0e2a-0000-4000-8000-000000000001");
          if (!v.body.response.allowed) expect(v.body.response.status?.message).to.match(/breaks rule/);
        }
        await mutateIdempotently(doc);
      }),
      { numRuns: 300 },
    );
  });
});
