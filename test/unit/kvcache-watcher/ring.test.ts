import { expect } from "chai";
import { members, type CachePod } from "../../../kvcache-watcher/membership.js";
import { clusterNodes, slotOwners, slotRanges } from "../../../kvcache-watcher/ring.js";

const pods = (n: number) => Array.from({ length: n }, (_, i) => `kc-${i}`);

describe("kvcache-watcher ring", () => {
  it("gives every slot exactly one owner, spread roughly evenly", () => {
    const owners = slotOwners(pods(4), 4096, 100);
    const counts = [...owners.values()].map((s) => s.length);
    expect(counts.reduce((a, b) => a + b, 0)).to.equal(4096);
    expect(new Set([...owners.values()].flat()).size).to.equal(4096);
    // 100 virtual nodes per pod keep each share within ±35 % of an even split.
    for (const c of counts) expect(c).to.be.within(1024 * 0.65, 1024 * 1.35);
  });

  it("depends on the set of pods, not their order", () => {
    const a = slotOwners(["kc-2", "kc-0", "kc-1"], 512, 50);
    const b = slotOwners(["kc-0", "kc-1", "kc-2"], 512, 50);
    for (const pod of ["kc-0", "kc-1", "kc-2"]) expect(a.get(pod)).to.deep.equal(b.get(pod));
  });

  it("adding a pod moves only the slots the new pod takes", () => {
    const before = slotOwners(pods(3), 4096, 100);
    const after = slotOwners(pods(4), 4096, 100);
    const owner = (m: Map<string, number[]>) => {
      const o = new Map<number, string>();
      for (const [pod, slots] of m) for (const s of slots) o.set(s, pod);
      return o;
    };
    const b = owner(before);
    const a = owner(after);
    let moved = 0;
    for (let s = 0; s < 4096; s++) {
      if (a.get(s) !== b.get(s)) {
        moved++;
        expect(a.get(s), `slot ${s} moved between old pods`).to.equal("kc-3");
      }
    }
    expect(moved).to.equal(after.get("kc-3")!.length);
  });

  it("merges slots into ranges, joining a run that wraps the ring", () => {
    expect(slotRanges([0, 1, 2, 5, 6, 9, 10, 11], 12)).to.deep.equal([
      { start: 5, end: 6 },
      { start: 9, end: 2 },
    ]);
    expect(slotRanges([3, 1, 2], 12)).to.deep.equal([{ start: 1, end: 3 }]);
    expect(
      slotRanges(
        Array.from({ length: 8 }, (_, i) => i),
        8,
      ),
    ).to.deep.equal([{ start: 0, end: 7 }]);
    expect(slotRanges([], 8)).to.deep.equal([]);
  });

  it("one node owns the whole ring; none gives an empty list", () => {
    expect(clusterNodes([{ name: "kc-0", addr: "10.0.0.1" }], 18512, 4096, 100)).to.deep.equal([
      { name: "kc-0", addr: "10.0.0.1", port: 18512, slots: [{ start: 0, end: 4095 }] },
    ]);
    expect(clusterNodes([], 18512, 4096, 100)).to.deep.equal([]);
  });

  it("members are the cluster's Ready, running cache pods not being deleted, at their RDMA address if published", () => {
    const pod = (name: string, extra: Partial<CachePod> = {}, labels = { role: "cache", name: "kc" }): CachePod => ({
      metadata: {
        name,
        labels: {
          "kvcache.orchestration.aibrix.ai/name": labels.name,
          "kvcache.orchestration.aibrix.ai/role": labels.role,
        },
        ...extra.metadata,
      },
      status: {
        phase: "Running",
        podIP: `10.0.0.${name.length}`,
        conditions: [{ type: "Ready", status: "True" }],
        ...extra.status,
      },
    });
    const rdma = JSON.stringify([{ cniName: "rdma", deviceInfo: { ifName: "eth1", ips: ["192.168.9.9"] } }]);
    const list = [
      pod("a"),
      pod("bb", { metadata: { annotations: { "k8s.volcengine.com/network-status": rdma } } }),
      pod("pending", { status: { phase: "Pending" } }),
      pod("unready", {
        status: { phase: "Running", podIP: "10.0.0.7", conditions: [{ type: "Ready", status: "False" }] },
      }),
      pod("going", { metadata: { deletionTimestamp: "2026-01-01T00:00:00Z" } }),
      pod("watcher", {}, { role: "kvwatcher", name: "kc" }),
      pod("other", {}, { role: "cache", name: "other" }),
    ];
    expect(members(list, "kc")).to.deep.equal([
      { name: "a", addr: "10.0.0.1" },
      { name: "bb", addr: "192.168.9.9" },
    ]);
  });
});
