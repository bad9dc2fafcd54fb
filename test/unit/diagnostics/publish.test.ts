import { expect } from "chai";
import { Diagnostics } from "../../../api/labels.js";
import { NodeRecord } from "../../../extender/node.js";
import type { NodeObject } from "../../../extender/wire.js";
import { NO_MARKS, type Marks } from "../../../diagnostics/marks.js";
import { camelReason, conditionPatch, metadataPatch, nodeView } from "../../../diagnostics/publish.js";

const at = new Date("2026-12-02T18:00:00Z");
const faulty: Marks = {
  node: { check: "gpu_vram_unrecoverable_errors", reason: "GPU 3: 2 uncorrectable ECC errors", cleanSinceMs: null },
  devices: new Map([
    [3, { reason: "gpu_vram_unrecoverable_errors: 2 uncorrectable ECC errors", cleanSinceMs: null }],
    [0, { reason: "gpu_link_status: PCIe link width x8 of x16", cleanSinceMs: null }],
  ]),
};

describe("diagnostics: what is published on the Node", () => {
  it("a fatal fault: unhealthy label and annotations, failing devices sorted, taint, condition True", () => {
    const v = nodeView(faulty, at);
    expect(v.labels).to.deep.equal({
      [Diagnostics.nodeHealthLabel]: "unhealthy",
      [Diagnostics.failingCountLabel]: "2",
    });
    expect(v.annotations).to.deep.equal({
      [Diagnostics.nodeHealth]: "unhealthy",
      [Diagnostics.failingDevices]: "0,3",
      [Diagnostics.reason]: "GPU 3: 2 uncorrectable ECC errors",
      [Diagnostics.deviceReasons]: JSON.stringify({
        "0": "gpu_link_status: PCIe link width x8 of x16",
        "3": "gpu_vram_unrecoverable_errors: 2 uncorrectable ECC errors",
      }),
      [Diagnostics.lastReport]: "2026-12-02T18:00:00.000Z",
    });
    expect(v.taint).to.equal("gpu_vram_unrecoverable_errors");
    expect(v.condition).to.deep.equal({
      status: "True",
      reason: "GpuVramUnrecoverableErrors",
      message: "GPU 3: 2 uncorrectable ECC errors",
    });
  });

  it("healthy: marks cleared, no taint, condition False", () => {
    const v = nodeView(NO_MARKS, at);
    expect(v.annotations[Diagnostics.nodeHealth]).to.equal("healthy");
    expect(v.annotations[Diagnostics.failingDevices]).to.equal("");
    expect(v.taint).to.equal(null);
    expect(v.condition.status).to.equal("False");
    expect(camelReason("gpu_xid_errors")).to.equal("GpuXidErrors");
  });

  it("the extender reads what is published: node excluded, and per-GPU marks exclude just those devices", () => {
    const asNode = (annotations: Record<string, string>): NodeObject => ({
      metadata: { name: "n1", annotations },
      status: { allocatable: { "nvidia.com/gpu": "8" } },
    });
    const fatal = new NodeRecord(asNode(nodeView(faulty, at).annotations), { gpuResource: "nvidia.com/gpu" });
    expect(fatal.health).to.equal("unhealthy");
    expect(fatal.healthReason).to.equal("GPU 3: 2 uncorrectable ECC errors");
    const perGpu = new NodeRecord(asNode(nodeView({ node: null, devices: faulty.devices }, at).annotations), {
      gpuResource: "nvidia.com/gpu",
    });
    expect(perGpu.health).to.equal("ok");
    expect(perGpu.failingList).to.deep.equal([0, 3]);
    expect(perGpu.pickDevices(2)).to.deep.equal([1, 2]);
    expect(perGpu.healthyCapacity).to.equal(6);
  });

  it("the taint patch keeps other taints, keeps ours when unchanged, removes ours on recovery", () => {
    const other = { key: "example.com/maintenance", value: "true", effect: "NoExecute" };
    const ours = {
      key: Diagnostics.faultTaint,
      value: "gpu_vram_unrecoverable_errors",
      effect: "NoSchedule",
      timeAdded: "2026-12-01T00:00:00Z",
    };
    const node = { metadata: { resourceVersion: "42" }, spec: { taints: [other] } };
    const add = metadataPatch(node, nodeView(faulty, at), at) as {
      metadata: { resourceVersion: string };
      spec: { taints: object[] };
    };
    expect(add.metadata.resourceVersion).to.equal("42");
    expect(add.spec.taints).to.deep.equal([
      other,
      {
        key: Diagnostics.faultTaint,
        value: "gpu_vram_unrecoverable_errors",
        effect: "NoSchedule",
        timeAdded: at.toISOString(),
      },
    ]);
    const keep = metadataPatch({ spec: { taints: [other, ours] } }, nodeView(faulty, at), at) as {
      spec: { taints: object[] };
    };
    expect(keep.spec.taints[1]).to.equal(ours);
    const clear = metadataPatch({ spec: { taints: [other, ours] } }, nodeView(NO_MARKS, at), at) as {
      spec: { taints: object[] };
    };
    expect(clear.spec.taints).to.deep.equal([other]);
  });

  it("the condition patch sets lastTransitionTime only on a transition", () => {
    const v = nodeView(faulty, at);
    const changed = conditionPatch(v, true, at) as { status: { conditions: Record<string, string>[] } };
    expect(changed.status.conditions[0]).to.include({
      type: "AcceleratorProblem",
      status: "True",
      lastTransitionTime: at.toISOString(),
    });
    const same = conditionPatch(v, false, at) as { status: { conditions: Record<string, string>[] } };
    expect(same.status.conditions[0]).to.not.have.property("lastTransitionTime");
  });

  it("reasons are clipped to keep annotations small", () => {
    const long: Marks = {
      node: { check: "gpu_xid_errors", reason: "x".repeat(5000), cleanSinceMs: null },
      devices: new Map(),
    };
    expect(nodeView(long, at).annotations[Diagnostics.reason]!.length).to.equal(1024);
  });
});
