// kube-scheduler's candidate lists as the extender-latency benchmark rebuilds them.
import { expect } from "chai";
import { chunkSize, feasibleNodesToFind, schedulerLists } from "../../../bench/extender-latency/scheduler-lists.js";

describe("kube-scheduler-shaped node lists", () => {
  it("looks for kube-scheduler's adaptive number of feasible nodes", () => {
    expect(feasibleNodesToFind(50)).to.equal(50);
    expect(feasibleNodesToFind(1000)).to.equal(420); // 50 − 8 = 42 %
    expect(feasibleNodesToFind(5000)).to.equal(500); // 50 − 40 = 10 %
    expect(feasibleNodesToFind(10_000)).to.equal(500); // floor of 5 %
    expect(feasibleNodesToFind(1000, 5)).to.equal(100); // never under 100
    expect(feasibleNodesToFind(5000, 100)).to.equal(5000);
  });

  it("chunks work as the parallelizer does", () => {
    expect(chunkSize(5000, 16)).to.equal(70);
    expect(chunkSize(100, 16)).to.equal(7);
    expect(chunkSize(10, 16)).to.equal(1);
  });

  it("passes only nodes the scheduler's filters accept, rotating the start by the nodes processed", () => {
    const names = Array.from({ length: 1000 }, (_, i) => `n${i}`);
    const fits = names.map((_, i) => i % 2 === 0);
    const lists = schedulerLists(names, fits, 3);
    for (const list of lists) {
      expect(list).to.have.length(420);
      expect(new Set(list).size).to.equal(420);
      expect(list.every((x) => Number(x.slice(1)) % 2 === 0)).to.equal(true);
    }
    // Consecutive cycles look at different nodes first: the lists differ, not by one node.
    const overlap = lists[1]!.filter((x) => new Set(lists[0]).has(x)).length;
    expect(overlap).to.be.below(420);
    // Interleaved workers: the list is not in index order.
    const first = lists[0]!.map((x) => Number(x.slice(1)));
    expect(first).to.not.deep.equal([...first].sort((a, b) => a - b));
  });

  it("returns every feasible node when fewer than the target exist", () => {
    const names = Array.from({ length: 5000 }, (_, i) => `n${i}`);
    const fits = names.map((_, i) => i % 50 === 0);
    const [list] = schedulerLists(names, fits, 1);
    expect(list).to.have.length(100);
  });
});
