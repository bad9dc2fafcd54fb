import { expect } from "chai";
import { ClusterState } from "../../../extender/state.js";
import { node, pod, PRODUCTS } from "./fleet.js";

describe("extender cluster state", () => {
  function eightGpuNode(failing?: string): ClusterState {
    const s = new ClusterState();
    s.upsertNode(node("n1", { product: PRODUCTS.H100, gpus: 8, ...(failing ? { failing } : {}) }));
    return s;
  }

  it("computes free healthy GPUs from bound pods, pinned and unpinned", () => {
    const s = eightGpuNode("7");
    expect(s.node("n1")!.healthyFree).to.equal(7);
    s.upsertPod(pod("a", { gpus: 2, node: "n1", devices: "0,1" }));
    s.upsertPod(pod("b", { gpus: 1, node: "n1" })); // bound by another binder: counted, not pinned
    s.upsertPod(pod("pending", { gpus: 4 })); // not bound: holds nothing
    s.upsertPod(pod("cpu", { node: "n1" }));
    expect(s.node("n1")!.healthyFree).to.equal(4);
    expect(s.node("n1")!.pickDevices(4)).to.deep.equal([2, 3, 4, 5]);
    expect(s.node("n1")!.pickDevices(5)).to.equal(undefined);
  });

  it("applies pods seen before their node", () => {
    const s = new ClusterState();
    s.upsertPod(pod("a", { gpus: 3, node: "n1", devices: "0,1,2" }));
    s.upsertNode(node("n1", { product: PRODUCTS.L4, gpus: 4 }));
    expect(s.node("n1")!.healthyFree).to.equal(1);
  });

  it("frees GPUs when a pod finishes or is deleted", () => {
    const s = eightGpuNode();
    const a = pod("a", { gpus: 4, node: "n1", devices: "0,1,2,3" });
    const b = pod("b", { gpus: 4, node: "n1", devices: "4,5,6,7" });
    s.upsertPod(a);
    s.upsertPod(b);
    expect(s.node("n1")!.healthyFree).to.equal(0);
    s.upsertPod({ ...a, status: { phase: "Succeeded" } });
    expect(s.node("n1")!.healthyFree).to.equal(4);
    s.deletePod(b);
    expect(s.node("n1")!.healthyFree).to.equal(8);
  });

  it("counts a colliding or out-of-range pin as unpinned use rather than trusting it", () => {
    const s = eightGpuNode();
    s.upsertPod(pod("a", { gpus: 2, node: "n1", devices: "0,1" }));
    s.upsertPod(pod("b", { gpus: 2, node: "n1", devices: "1,2" }));
    s.upsertPod(pod("c", { gpus: 1, node: "n1", devices: "9" }));
    const n = s.node("n1")!;
    expect(n.unpinned).to.equal(3);
    expect(n.healthyFree).to.equal(3);
  });

  it("reserves disjoint healthy devices, never failing ones, and releases on failure", () => {
    const s = eightGpuNode("0,2");
    const p = (name: string, gpus: number) => ({ uid: name, namespace: "default", name, gpus });
    expect(s.reserve(p("x", 2), "n1")).to.deep.equal([1, 3]);
    expect(s.reserve(p("y", 3), "n1")).to.deep.equal([4, 5, 6]);
    expect(s.reserve(p("z", 2), "n1")).to.match(/has 1 free healthy nvidia.com\/gpu but pod default\/z needs 2/);
    s.release("y");
    expect(s.node("n1")!.healthyFree).to.equal(4);
    expect(s.reserve(p("z", 2), "n1")).to.deep.equal([4, 5]);
    expect(s.reserve(p("w", 1), "nope")).to.match(/node nope is not in the extender's cache/);
  });

  it("keeps a hold through unrelated pod updates and hands it over to the bound pod's watch event", () => {
    const s = eightGpuNode();
    const p = pod("a", { gpus: 2 });
    s.upsertPod(p);
    const uid = p.metadata!.uid!;
    expect(s.reserve({ uid, namespace: "default", name: "a", gpus: 2 }, "n1")).to.deep.equal([0, 1]);
    s.upsertPod(p); // a status update while the Binding is in flight
    expect(s.node("n1")!.healthyFree).to.equal(6);
    s.upsertPod({
      ...p,
      metadata: { ...p.metadata, annotations: { "scheduling.aibrix.ai/gpu-devices": "0,1" } },
      spec: { ...p.spec, nodeName: "n1" },
    });
    s.confirm(uid);
    s.release(uid); // too late to release: the pod is bound
    expect(s.node("n1")!.healthyFree).to.equal(6);
    expect(s.devicesOf(uid)).to.deep.equal([0, 1]);
    expect(s.reserve({ uid, namespace: "default", name: "a", gpus: 2 }, "n1")).to.match(/already bound to n1/);
  });

  it("lets a failed earlier bind of a pod leave a retried bind's hold alone", () => {
    const s = eightGpuNode();
    const p = { uid: "u", namespace: "default", name: "a", gpus: 2 };
    const first = s.reserve(p, "n1") as number[];
    const second = s.reserve(p, "n1") as number[];
    expect(second).to.deep.equal([0, 1]);
    s.release("u", first);
    expect(s.node("n1")!.healthyFree).to.equal(6);
    s.release("u", second);
    expect(s.node("n1")!.healthyFree).to.equal(8);
  });

  it("counts placed pods of a deployment per GPU label", () => {
    const s = eightGpuNode();
    s.upsertNode(node("l4", { product: PRODUCTS.L4, gpus: 4 }));
    s.upsertPod(pod("a", { gpus: 1, node: "n1", deployment: "llama" }));
    s.upsertPod(pod("b", { gpus: 1, node: "l4", deployment: "llama" }));
    s.upsertPod(pod("c", { gpus: 1, node: "l4", deployment: "llama" }));
    s.upsertPod(pod("d", { gpus: 1, deployment: "llama" }));
    s.upsertPod(pod("e", { gpus: 1, node: "l4", deployment: "other" }));
    expect(Object.fromEntries(s.placedByGpuLabel("default/llama"))).to.deep.equal({
      [PRODUCTS.H100]: 1,
      [PRODUCTS.L4]: 2,
    });
  });

  it("moves placed counts when a node is relabelled or removed", () => {
    const s = new ClusterState();
    s.upsertNode(node("n", { product: PRODUCTS.L4, gpus: 4 }));
    s.upsertPod(pod("a", { gpus: 1, node: "n", deployment: "llama" }));
    s.upsertPod(pod("b", { gpus: 1, node: "n", deployment: "llama" }));
    expect(Object.fromEntries(s.placedByGpuLabel("default/llama"))).to.deep.equal({ [PRODUCTS.L4]: 2 });
    s.upsertNode(node("n", { product: PRODUCTS.A10G, gpus: 4, resourceVersion: "2" }));
    expect(Object.fromEntries(s.placedByGpuLabel("default/llama"))).to.deep.equal({ [PRODUCTS.A10G]: 2 });
    expect(s.node("n")!.labelId).to.be.at.least(0);
    s.deleteNode("n");
    expect(s.placedByGpuLabel("default/llama").size).to.equal(0);
  });
});
