import { expect } from "chai";
import { setTimeout as sleep } from "node:timers/promises";
import { Registry } from "prom-client";
import { WorkQueue, WorkQueueMetrics } from "../../../kube/workqueue.js";

describe("kube/workqueue", () => {
  it("queues a key once however often it is added", async () => {
    const q = new WorkQueue("t");
    q.add("a");
    q.add("b");
    q.add("a");
    expect(q.length).to.equal(2);
    expect(await q.get()).to.equal("a");
    expect(await q.get()).to.equal("b");
  });

  it("never hands one key to two workers at once; an add during processing queues it again after done", async () => {
    const q = new WorkQueue("t");
    q.add("a");
    const first = await q.get();
    q.add("a"); // changed while being processed
    expect(q.length, "not handed out while processing").to.equal(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await sleep(5);
    expect(second).to.equal(undefined);
    q.done(first!);
    await sleep(0);
    expect(second).to.equal("a");
  });

  it("addAfter delays, and the sooner of two delays wins", async () => {
    const q = new WorkQueue("t");
    q.addAfter("a", 200);
    q.addAfter("a", 20);
    const started = Date.now();
    expect(await q.get()).to.equal("a");
    expect(Date.now() - started).to.be.within(15, 150);
    q.done("a");
    q.addAfter("b", 20);
    q.addAfter("b", 500); // later: ignored
    const t2 = Date.now();
    expect(await q.get()).to.equal("b");
    expect(Date.now() - t2).to.be.below(300);
  });

  it("backs off per key exponentially until forgotten", () => {
    const q = new WorkQueue("t", { backoffMs: { base: 5, max: 300 } });
    expect([0, 1, 2, 3, 10].map((n) => q.backoff(n))).to.deep.equal([5, 10, 20, 40, 300]);
    q.addRateLimited("a");
    q.addRateLimited("a");
    q.addRateLimited("b");
    expect(q.retries("a")).to.equal(2);
    expect(q.retries("b")).to.equal(1);
    q.forget("a");
    expect(q.retries("a")).to.equal(0);
    q.shutDown();
  });

  it("shutDown releases waiting workers", async () => {
    const q = new WorkQueue("t");
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).to.equal(undefined);
    q.add("x");
    expect(q.length).to.equal(0);
  });

  it("exports client-go's metric names", async () => {
    const registry = new Registry();
    const q = new WorkQueue("adapters", { metrics: new WorkQueueMetrics(registry) });
    q.add("a");
    q.addRateLimited("b");
    const text = await registry.metrics();
    expect(text).to.match(/workqueue_depth\{name="adapters"\} 1/);
    expect(text).to.match(/workqueue_adds_total\{name="adapters"\} 1/);
    expect(text).to.match(/workqueue_retries_total\{name="adapters"\} 1/);
    q.shutDown();
  });
});
