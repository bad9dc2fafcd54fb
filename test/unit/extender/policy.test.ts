import { expect } from "chai";
import { RecommendationSet } from "../../../api/gpu-recommendation.js";
import {
  DEFAULT_WEIGHTS,
  deficitByType,
  filterNames,
  filterNamesJson,
  filterNodes,
  prioritize,
  prioritizeJson,
  preemptCandidates,
  scoreTerms,
  type PlacementRequest,
  type PolicyContext,
  type PolicyOptions,
} from "../../../extender/policy.js";
import { ClusterState } from "../../../extender/state.js";
import type { NodeObject } from "../../../extender/wire.js";
import { fleetProfiles, node, NOW, pod, PRODUCTS } from "./fleet.js";

const { H100, A100, L4, A10G } = PRODUCTS;

function options(o: Partial<PolicyOptions> = {}): PolicyOptions {
  return {
    gpuResource: "nvidia.com/gpu",
    staleAfterMs: 5 * 60_000,
    requireDiagnostics: false,
    requireProfile: false,
    weights: { ...DEFAULT_WEIGHTS },
    ...o,
  };
}

function fleet(): { state: ClusterState; nodes: NodeObject[] } {
  const nodes = [
    node("h100-a", { product: H100, gpus: 8 }),
    node("h100-failing", { product: H100, gpus: 8, failing: "0,1,2,3,4,5,6" }),
    node("h100-sick", { product: H100, gpus: 8, health: "unhealthy", reason: "XID 79: GPU 2 fell off the bus" }),
    node("h100-stale", { product: H100, gpus: 8, reportAgeMin: 30 }),
    node("a100-full", { product: A100, gpus: 8 }),
    node("a100-half", { product: A100, gpus: 8 }),
    node("l4-a", { product: L4, gpus: 4 }),
    node("a10g-a", { product: A10G, gpus: 4 }),
    node("cpu-a", {}),
    node("gpu-unlabelled", { gpus: 4 }),
    node("h100-unreported", { product: H100, gpus: 8, reportAgeMin: null }),
  ];
  const state = new ClusterState();
  for (const n of nodes) state.upsertNode(n);
  state.upsertPod(pod("big", { model: "other", gpus: 8, node: "a100-full", devices: "0,1,2,3,4,5,6,7" }));
  state.upsertPod(pod("half", { model: "other", gpus: 4, node: "a100-half" }));
  return { state, nodes };
}

function ctx(state: ClusterState, o: Partial<PolicyOptions> = {}, recs = RecommendationSet.empty()): PolicyContext {
  return { state, profiles: fleetProfiles(), recommendations: recs, options: options(o), now: NOW };
}

const ALL = [
  "h100-a",
  "h100-failing",
  "h100-sick",
  "h100-stale",
  "a100-full",
  "a100-half",
  "l4-a",
  "a10g-a",
  "cpu-a",
  "gpu-unlabelled",
  "h100-unreported",
  "ghost",
];

describe("extender filter", () => {
  it("gives every failed node a reason, split by whether preemption could help", () => {
    const { state } = fleet();
    const req: PlacementRequest = { model: "llama-8b", gpus: 2, deploymentKey: undefined };
    const { result, reasons } = filterNames(ctx(state), req, ALL);
    expect(result.Error).to.equal("");
    expect(result.Nodes).to.equal(null);
    expect(result.NodeNames).to.deep.equal(["h100-a", "a100-half", "l4-a", "h100-unreported"]);
    const u = result.FailedAndUnresolvableNodes;
    expect(u["h100-failing"]).to.equal("pod needs 2 GPUs; node has 1 healthy of 8 (failing devices: 0,1,2,3,4,5,6)");
    expect(u["h100-sick"]).to.equal("diagnostics mark the node unhealthy: XID 79: GPU 2 fell off the bus");
    expect(u["h100-stale"]).to.match(/^diagnostics last reported at 2026-01-01T11:30:00.000Z, older than the 300s/);
    expect(u["a10g-a"]).to.contain("GPU type A10G cannot serve model llama-8b within its SLO");
    expect(u["cpu-a"]).to.equal("node has no allocatable nvidia.com/gpu");
    expect(u["gpu-unlabelled"]).to.contain("node has no GPU type label (nvidia.com/gpu.product)");
    expect(result.FailedNodes).to.deep.equal({
      "a100-full": "fewer than 2 free healthy GPUs",
      ghost: "node is not in the extender's cache yet (informer still syncing); retry shortly",
    });
    expect(Object.fromEntries(reasons)).to.deep.equal({
      insufficient_healthy_gpus: 1,
      unhealthy: 1,
      stale_diagnostics: 1,
      insufficient_free_gpus: 1,
      slo_infeasible: 1,
      no_gpus: 1,
      no_gpu_type: 1,
      unknown_node: 1,
    });
  });

  it("checks memory fit and missing profiles per model", () => {
    const { state } = fleet();
    const req: PlacementRequest = { model: "llama-70b", gpus: 2, deploymentKey: undefined };
    const { result } = filterNames(ctx(state), req, ["h100-a", "l4-a", "a10g-a"]);
    expect(result.NodeNames).to.deep.equal(["h100-a"]);
    expect(result.FailedAndUnresolvableNodes["l4-a"]).to.equal(
      "model llama-70b needs 140 GiB of GPU memory; 2 x L4 (24 GiB each) give 48 GiB",
    );
    expect(result.FailedAndUnresolvableNodes["a10g-a"]).to.equal(
      "no profile for model llama-70b on GPU type A10G: profile it, or the model stays off this type",
    );
  });

  it("honours the configured GPU type label before nvidia.com/gpu.product", () => {
    const state = new ClusterState({ gpuResource: "nvidia.com/gpu", gpuTypeLabel: "example.com/gpu-type" });
    state.upsertNode(node("n1", { gpus: 4, labels: { "example.com/gpu-type": "H100" }, product: L4 }));
    const req: PlacementRequest = { model: "llama-70b", gpus: 2, deploymentKey: undefined };
    const { result } = filterNames(ctx(state, { gpuTypeLabel: "example.com/gpu-type" }), req, ["n1"]);
    expect(result.NodeNames).to.deep.equal(["n1"]);
  });

  it("lets unprofiled models through unless profiles are required; requires diagnostics on request", () => {
    const { state } = fleet();
    const req: PlacementRequest = { model: "mistral-7b", gpus: 1, deploymentKey: undefined };
    expect(filterNames(ctx(state), req, ["a10g-a", "gpu-unlabelled"]).result.NodeNames).to.deep.equal([
      "a10g-a",
      "gpu-unlabelled",
    ]);
    const strict = filterNames(ctx(state, { requireProfile: true }), req, ["a10g-a"]).result;
    expect(strict.FailedAndUnresolvableNodes["a10g-a"]).to.contain("no GPU profiles for model mistral-7b");
    const diag = filterNames(ctx(state, { requireDiagnostics: true }), req, ["h100-unreported"]).result;
    expect(diag.FailedAndUnresolvableNodes["h100-unreported"]).to.contain("no diagnostics report");
  });

  it("treats a health report without a readable time as stale, and odd health values as unhealthy", () => {
    const state = new ClusterState();
    const n1 = node("n1", { product: H100, gpus: 8 });
    n1.metadata!.annotations!["diagnostics.aibrix.ai/last-report"] = "yesterday";
    const n2 = node("n2", { product: H100, gpus: 8, health: "degraded" });
    const n3 = node("n3", { product: H100, gpus: 8, failing: "zero" });
    for (const n of [n1, n2, n3]) state.upsertNode(n);
    const req: PlacementRequest = { model: "llama-8b", gpus: 1, deploymentKey: undefined };
    const u = filterNames(ctx(state), req, ["n1", "n2", "n3"]).result.FailedAndUnresolvableNodes;
    expect(u.n1).to.contain("missing or unreadable");
    expect(u.n2).to.contain('unknown diagnostics.aibrix.ai/node-health value "degraded"');
    expect(u.n3).to.contain('unreadable diagnostics.aibrix.ai/failing-devices "zero"');
  });

  it("gives the same answer from full Node objects, returning the objects", () => {
    const { state, nodes } = fleet();
    const req: PlacementRequest = { model: "llama-8b", gpus: 2, deploymentKey: undefined };
    const byNames = filterNames(ctx(state), req, ALL.slice(0, -1)).result;
    const byNodes = filterNodes(ctx(state), req, nodes).result;
    expect(byNodes.NodeNames).to.equal(null);
    expect(byNodes.Nodes!.items.map((n) => n.metadata!.name)).to.deep.equal(byNames.NodeNames);
    expect(byNodes.FailedAndUnresolvableNodes).to.deep.equal(byNames.FailedAndUnresolvableNodes);
    expect(byNodes.FailedNodes).to.deep.equal(byNames.FailedNodes);
  });

  it("reads a newer Node object than the cache, keeping the GPU claims it knows", () => {
    const { state } = fleet();
    const fresh = node("a100-half", {
      product: A100,
      gpus: 8,
      health: "unhealthy",
      reason: "ECC",
      resourceVersion: "2",
    });
    const req: PlacementRequest = { model: "llama-8b", gpus: 4, deploymentKey: undefined };
    const r = filterNodes(ctx(state), req, [fresh]).result;
    expect(r.FailedAndUnresolvableNodes["a100-half"]).to.contain("unhealthy: ECC");
    const healthy = node("a100-half", { product: A100, gpus: 8, resourceVersion: "3" });
    // Half its eight GPUs are claimed: four fit, five do not.
    expect(filterNodes(ctx(state), req, [healthy]).result.NodeNames ?? []).to.have.length(0);
    expect(filterNodes(ctx(state), req, [healthy]).result.Nodes!.items).to.have.length(1);
    expect(filterNodes(ctx(state), { ...req, gpus: 5 }, [healthy]).result.FailedNodes["a100-half"]).to.equal(
      "fewer than 5 free healthy GPUs",
    );
  });
});

describe("extender prioritize", () => {
  const onlyWeights = (cost: number, deficit: number, packing: number) => ({ weights: { cost, deficit, packing } });

  it("cost term: cheapest cost per token for this model scores 1, others min/theirs", () => {
    const { state } = fleet();
    const req: PlacementRequest = { model: "llama-8b", gpus: 1, deploymentKey: undefined };
    const names = ["h100-a", "a100-half", "l4-a"];
    const terms = scoreTerms(
      ctx(state),
      req,
      names.map((n) => state.node(n)),
    );
    // $/Mtok: H100 4/3600/4300, A100 3/3600/2150, L4 0.8/3600/463
    expect(terms[0]!.cost).to.equal(1);
    expect(terms[1]!.cost).to.be.closeTo(4 / 4300 / (3 / 2150), 1e-9);
    expect(terms[2]!.cost).to.be.closeTo(4 / 4300 / (0.8 / 463), 1e-9);
    const scores = prioritize(
      ctx(state, onlyWeights(1, 0, 0)),
      req,
      names.map((n) => state.node(n)),
    );
    expect(scores).to.deep.equal([
      { Host: "h100-a", Score: 10 },
      { Host: "a100-half", Score: 7 },
      { Host: "l4-a", Score: 5 },
    ]);
  });

  it("deficit term: recommended minus placed per GPU type for the pod's deployment", () => {
    const { state } = fleet();
    state.upsertPod(pod("r1", { model: "llama-8b", gpus: 1, node: "l4-a", deployment: "llama", devices: "0" }));
    state.upsertPod(pod("r2", { model: "llama-8b", gpus: 1, node: "l4-a", deployment: "llama", devices: "1" }));
    const recs = new RecommendationSet({
      recommendations: [{ namespace: "default", deployment: "llama", recommended: { L4: 3, H100: 2, "A100-80GB": 0 } }],
    });
    const req: PlacementRequest = { model: "llama-8b", gpus: 1, deploymentKey: "default/llama" };
    const c = ctx(state, onlyWeights(0, 1, 0), recs);
    expect(Object.fromEntries(deficitByType(c, req)!)).to.deep.equal({ L4: 1, H100: 2, "A100-80GB": 0 });
    const names = ["h100-a", "l4-a", "a100-half"];
    expect(
      scoreTerms(
        c,
        req,
        names.map((n) => state.node(n)),
      ).map((t) => t!.deficit),
    ).to.deep.equal([1, 0.5, 0]);
    expect(
      prioritize(
        c,
        req,
        names.map((n) => state.node(n)),
      ).map((s) => s.Score),
    ).to.deep.equal([10, 5, 0]);
    // No recommendation for this deployment: the term drops out instead of zeroing everyone.
    const other: PlacementRequest = { ...req, deploymentKey: "default/other" };
    expect(deficitByType(c, other)).to.equal(undefined);
    expect(scoreTerms(c, other, [state.node("h100-a")])[0]!.deficit).to.equal(undefined);
  });

  it("packing term: partly used nodes first, whole nodes kept free", () => {
    const { state } = fleet();
    state.upsertNode(node("h100-b", { product: H100, gpus: 8 }));
    state.upsertPod(pod("p6", { model: "x", gpus: 6, node: "h100-b" }));
    const req: PlacementRequest = { model: "llama-8b", gpus: 2, deploymentKey: undefined };
    const c = ctx(state, onlyWeights(0, 0, 1));
    const recs = ["h100-a", "h100-b", "h100-failing"].map((n) => state.node(n));
    expect(scoreTerms(c, req, recs).map((t) => t!.packing)).to.deep.equal([0.25, 1, 1]);
    expect(prioritize(c, req, recs).map((s) => s.Score)).to.deep.equal([3, 10, 10]);
  });

  it("mixes terms by weight, keeps scores within 0..10, and scores unknown or unfit nodes 0", () => {
    const { state } = fleet();
    const req: PlacementRequest = { model: "llama-8b", gpus: 1, deploymentKey: undefined };
    const recs = [state.node("h100-a"), state.node("a10g-a"), undefined, state.node("l4-a")];
    const c = ctx(state, onlyWeights(3, 1, 1));
    const scores = prioritize(c, req, recs);
    for (const s of scores) expect(s.Score).to.be.within(0, 10).and.satisfy(Number.isInteger);
    // h100-a: cost 1, packing 1/8 → (3*1 + 0.125)/4 = 0.78 → 8 ; l4-a: cost 0.54, packing 1/4 → (1.61+0.25)/4 → 5
    expect(scores.map((s) => s.Score)).to.deep.equal([8, 0, 0, 5]);
    const zero = prioritize(ctx(state, onlyWeights(0, 0, 0)), req, recs);
    expect(zero.every((s) => s.Score === 0)).to.equal(true);
  });
});

describe("extender encoded answers", () => {
  it("encodes the names-only filter exactly as the object form serialises", () => {
    const { state } = fleet();
    const req: PlacementRequest = { model: "llama-8b", gpus: 2, deploymentKey: undefined };
    const expected = filterNames(ctx(state), req, ALL);
    const encoded = filterNamesJson(
      ctx(state),
      req,
      ALL,
      ALL.map((n) => state.node(n)),
    );
    expect(JSON.parse(encoded.json)).to.deep.equal(expected.result);
    expect(encoded.passed).to.equal(expected.result.NodeNames!.length);
    expect(encoded.reasons).to.deep.equal(expected.reasons);
    const none = filterNamesJson(ctx(state), req, [], []);
    expect(JSON.parse(none.json)).to.deep.equal({
      Nodes: null,
      NodeNames: [],
      FailedNodes: {},
      FailedAndUnresolvableNodes: {},
      Error: "",
    });
  });

  it("encodes prioritize as the object form serialises, answering unknown names with 0", () => {
    const { state } = fleet();
    const req: PlacementRequest = { model: "llama-8b", gpus: 1, deploymentKey: undefined };
    const names = ["h100-a", "ghost", "l4-a", "a10g-a"];
    const recs = names.map((n) => state.node(n));
    const expected = prioritize(ctx(state), req, recs).map((h, i) => ({ ...h, Host: names[i] }));
    expect(JSON.parse(prioritizeJson(ctx(state), req, names, recs))).to.deep.equal(expected);
    expect(prioritizeJson(ctx(state), req, [], [])).to.equal("[]");
  });
});

describe("extender preempt", () => {
  it("keeps only nodes where the proposed victims free enough healthy GPUs of a fitting type", () => {
    const { state } = fleet();
    state.upsertNode(node("a100-x", { product: A100, gpus: 8 }));
    const x8 = pod("x8", { model: "other", gpus: 8, node: "a100-x", devices: "0,1,2,3,4,5,6,7" });
    const onFailing = pod("on-failing", { model: "other", gpus: 1, node: "h100-failing", devices: "7" });
    state.upsertPod(x8);
    state.upsertPod(onFailing);
    const v = (...uids: string[]) => ({ Pods: uids.map((UID) => ({ UID })), NumPDBViolations: 0 });
    const req: PlacementRequest = { model: "llama-8b", gpus: 4, deploymentKey: undefined };
    const out = preemptCandidates(
      ctx(state),
      req,
      new Map([
        ["a100-x", v(x8.metadata!.uid!)], // evicting x8 frees 8
        ["a100-full", v()], // nothing evicted, nothing free
        ["h100-failing", v(onFailing.metadata!.uid!)], // only 1 healthy GPU there at all
        ["a10g-a", v()], // the type cannot serve the model
        ["ghost", v("uid-unknown")], // not in the cache: cannot show eviction helps
        ["a100-half", v()], // already fits
      ]),
    );
    expect(out).to.deep.equal({ "a100-x": v(x8.metadata!.uid!), "a100-half": v() });
  });

  it("counts only the victims' healthy devices on that node", () => {
    const state = new ClusterState();
    state.upsertNode(node("n1", { product: PRODUCTS.H100, gpus: 4, failing: "3" }));
    const a = pod("a", { model: "x", gpus: 2, node: "n1", devices: "0,1" });
    const b = pod("b", { model: "x", gpus: 1, node: "n1", devices: "3" });
    const c = pod("c", { model: "x", gpus: 1, node: "n1", devices: "2" });
    for (const p of [a, b, c]) state.upsertPod(p);
    const req: PlacementRequest = { model: "llama-8b", gpus: 3, deploymentKey: undefined };
    const v = (...ps: (typeof a)[]) => ({ Pods: ps.map((p) => ({ UID: p.metadata!.uid! })), NumPDBViolations: 1 });
    expect(preemptCandidates(ctx(state), req, new Map([["n1", v(a, b)]]))).to.deep.equal({});
    expect(preemptCandidates(ctx(state), req, new Map([["n1", v(a, c)]]))).to.deep.equal({ n1: v(a, c) });
  });
});
