import { expect } from "chai";
import { podDeploymentKey, podGpuRequest, parseDeviceList } from "../../../extender/pod.js";
import { checkBindingArgs, checkExtenderArgs, checkPreemptionArgs, parseJson } from "../../../extender/wire.js";
import { pod } from "./fleet.js";

function error<T>(r: { ok: true; value: T } | { ok: false; error: string }): string {
  expect(r.ok).to.equal(false);
  return r.ok ? "" : r.error;
}

describe("extender wire parsing", () => {
  it("accepts names-only and full-node ExtenderArgs", () => {
    const a = checkExtenderArgs({ Pod: { metadata: {} }, Nodes: null, NodeNames: ["n1"] });
    expect(a.ok && a.value.NodeNames).to.deep.equal(["n1"]);
    const b = checkExtenderArgs({ Pod: {}, Nodes: { items: [{ metadata: { name: "n1" } }] }, NodeNames: null });
    expect(b.ok && b.value.Nodes!.items.length).to.equal(1);
    const c = checkExtenderArgs({ pod: {}, nodeNames: [] });
    expect(c.ok).to.equal(true);
  });

  it("names the field and rule of malformed ExtenderArgs", () => {
    expect(error(parseJson("{"))).to.match(/^request body is not valid JSON/);
    expect(error(checkExtenderArgs([]))).to.equal(
      'ExtenderArgs: got array, rule "object": send {Pod, Nodes|NodeNames}',
    );
    expect(error(checkExtenderArgs({ NodeNames: [] }))).to.match(/^ExtenderArgs.Pod: got undefined, rule "object"/);
    expect(error(checkExtenderArgs({ Pod: {}, NodeNames: "n1" }))).to.match(/NodeNames: got string, rule "array/);
    expect(error(checkExtenderArgs({ Pod: {}, NodeNames: ["a", 3] }))).to.match(/NodeNames\[1\]: got number/);
    expect(error(checkExtenderArgs({ Pod: {}, Nodes: { items: 3 } }))).to.match(/Nodes: got object, rule "NodeList/);
    expect(error(checkExtenderArgs({ Pod: {}, Nodes: null, NodeNames: null }))).to.match(/both null/);
    expect(error(checkExtenderArgs({ Pod: { spec: 1 }, NodeNames: [] }))).to.match(/Pod.spec: got number/);
  });

  it("checks binding args", () => {
    const ok = checkBindingArgs({ PodName: "p", PodNamespace: "ns", PodUID: "u", Node: "n" });
    expect(ok.ok && ok.value.Node).to.equal("n");
    expect(error(checkBindingArgs({ PodName: "p", PodNamespace: "ns", PodUID: "u" }))).to.equal(
      'ExtenderBindingArgs.Node: got undefined, rule "non-empty string"',
    );
    expect(error(checkBindingArgs(null))).to.match(/got null/);
  });
});

describe("pod facts", () => {
  it("counts GPUs from limits or requests, init containers as a max", () => {
    expect(podGpuRequest(pod("a", { gpus: 2 }))).to.equal(2);
    const p = pod("b", { gpus: 1 });
    p.spec!.containers!.push({ resources: { requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": 1 } } });
    p.spec!.initContainers = [{ resources: { limits: { "nvidia.com/gpu": "4" } } }];
    expect(podGpuRequest(p)).to.equal(4);
    expect(podGpuRequest(pod("c"))).to.equal(0);
  });

  it("rejects fractional GPU quantities naming the container", () => {
    const p = pod("a", { gpus: 1 });
    p.spec!.containers![0]!.resources = { limits: { "nvidia.com/gpu": "500m" } };
    expect(() => podGpuRequest(p)).to.throw(
      'Pod.spec.containers[0]: nvidia.com/gpu = "500m" breaks rule "whole number"',
    );
  });

  it("derives the deployment from the owning ReplicaSet", () => {
    expect(podDeploymentKey(pod("a", { deployment: "llama-8b", namespace: "ml" }))).to.equal("ml/llama-8b");
    expect(podDeploymentKey(pod("b"))).to.equal(undefined);
    const sts = pod("c");
    sts.metadata!.ownerReferences = [{ kind: "StatefulSet", name: "engine", controller: true }];
    expect(podDeploymentKey(sts)).to.equal("default/engine");
  });

  it("parses device lists", () => {
    expect(parseDeviceList("0, 3")).to.deep.equal([0, 3]);
    expect(parseDeviceList("")).to.equal(undefined);
    expect(parseDeviceList("0,x")).to.equal(undefined);
  });
});

describe("preemption args", () => {
  it("reads victims by UID from either form", () => {
    const meta = checkPreemptionArgs({
      Pod: {},
      NodeNameToMetaVictims: { n1: { Pods: [{ UID: "a" }], NumPDBViolations: 2 } },
    });
    expect(meta.ok && Object.fromEntries(meta.value.candidates)).to.deep.equal({
      n1: { Pods: [{ UID: "a" }], NumPDBViolations: 2 },
    });
    const full = checkPreemptionArgs({
      Pod: {},
      NodeNameToVictims: { n1: { Pods: [{ metadata: { uid: "b" } }], NumPDBViolations: 0 } },
      NodeNameToMetaVictims: null,
    });
    expect(full.ok && full.value.candidates.get("n1")!.Pods).to.deep.equal([{ UID: "b" }]);
  });

  it("names the bad field", () => {
    expect(error(checkPreemptionArgs({ Pod: {} }))).to.match(/NodeNameToVictims: got null, rule "map of node/);
    expect(error(checkPreemptionArgs({ Pod: {}, NodeNameToMetaVictims: { n1: { Pods: [{}] } } }))).to.equal(
      'ExtenderPreemptionArgs.NodeNameToMetaVictims[n1].Pods[0]: UID missing, rule "non-empty string"',
    );
  });
});
