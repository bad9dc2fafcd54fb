import { expect } from "chai";
import {
  FairQueue,
  defaultFairQueueOptions,
  type CapacityGate,
  type QueueOutcome,
} from "../../../../router/flow-control/fairness/fair-queue.js";
import { MemoryVtcCounters } from "../../../../router/flow-control/fairness/vtc-counters.js";

/** A gate with `slots` capacity that the test frees by hand. */
class Slots implements CapacityGate {
  used = 0;
  saturatedFlag = false;
  constructor(public slots: number) {}
  tryAcquire() {
    if (this.used >= this.slots) return false;
    this.used++;
    return true;
  }
  release() {
    this.used--;
  }
  saturated() {
    return this.saturatedFlag || this.used >= this.slots;
  }
}

function setup(slots: number, policy: "vtc" | "fcfs" = "vtc", extra: Partial<typeof defaultFairQueueOptions> = {}) {
  const gate = new Slots(slots);
  const counters = new MemoryVtcCounters();
  const q = new FairQueue({ ...defaultFairQueueOptions, policy, retryMs: 5, ...extra }, counters, gate);
  const order: string[] = [];
  const enter = (user: string, priority = 0, tokens = 10, signal?: AbortSignal) =>
    q.enter("m", user, priority, tokens, `${user}-${Math.random()}`, signal).then((o) => {
      if (o.ok) order.push(user);
      return o;
    });
  const serveOne = async () => {
    gate.release();
    q.capacityFreed("m");
    await new Promise((r) => setImmediate(r));
  };
  return { gate, counters, q, order, enter, serveOne };
}

describe("fair queue", () => {
  it("is work-conserving: with free capacity a request goes straight through", async () => {
    const { enter } = setup(2);
    const o = await enter("a");
    expect(o).to.deep.equal({ ok: true, waitedMs: 0 });
  });

  it("VTC serves the least-served backlogged user first; FCFS serves arrival order", async () => {
    for (const policy of ["vtc", "fcfs"] as const) {
      const { enter, serveOne, order } = setup(1, policy);
      await enter("heavy", 0, 100); // takes the only slot
      const pending: Array<Promise<QueueOutcome>> = [];
      for (let i = 0; i < 4; i++) pending.push(enter("heavy", 0, 100));
      pending.push(enter("light", 0, 100));
      for (let i = 0; i < 5; i++) await serveOne();
      await Promise.all(pending);
      if (policy === "vtc") expect(order.slice(1, 3)).to.include("light");
      else expect(order.at(-1)).to.equal("light");
    }
  });

  it("lifts a returning user's counter to the smallest backlogged counter (no banked idle time)", async () => {
    const { enter, counters, serveOne } = setup(1);
    counters.add("m", "busy", 1000);
    await enter("busy", 0, 0);
    const p = enter("busy", 0, 0); // busy is backlogged with counter 1000
    const q = enter("idle", 0, 0); // idle had 0; lifted to 1000 on arrival
    expect(counters.get("m", "idle")).to.equal(1000);
    await serveOne();
    await serveOne();
    await Promise.all([p, q]);
  });

  it("higher priority leaves the queue first regardless of counters", async () => {
    const { enter, serveOne, order, counters } = setup(1);
    counters.add("m", "vip", 1e9);
    await enter("x");
    const a = enter("std", 0);
    const b = enter("vip", 5);
    await new Promise((r) => setImmediate(r)); // both are queued
    await serveOne();
    await serveOne();
    await Promise.all([a, b]);
    expect(order.slice(1)).to.deep.equal(["vip", "std"]);
  });

  it("sheds sheddable requests at once when the model is saturated", async () => {
    const { enter, gate } = setup(1);
    await enter("a");
    gate.saturatedFlag = true;
    const o = await enter("b", -1);
    expect(o).to.deep.include({ ok: false, reason: "shed" });
  });

  it("when the queue is full, evicts the lowest priority for a higher one, else refuses the newcomer", async () => {
    const { enter } = setup(1, "vtc", { maxQueued: 2 });
    await enter("a");
    const low = enter("low", 0);
    const std = enter("std", 0);
    const refused = await enter("also-low", 0);
    expect(refused).to.deep.include({ ok: false, reason: "queue-full" });
    const crit = enter("crit", 1);
    expect(await std).to.deep.include({ ok: false, reason: "shed" }); // newest of the lowest class goes first
    void low;
    void crit;
  });

  it("keeps each user's waiters in arrival order, around one that left mid-queue, and counts what still waits", async () => {
    const { enter, serveOne, order, q } = setup(1, "fcfs");
    await enter("first"); // takes the only slot
    const label = (name: string, o: Promise<QueueOutcome>) => o.then((r) => (r.ok ? name : `${name}:${r.reason}`));
    const ac = new AbortController();
    const pending = [
      label("a1", enter("a")),
      label("a2", enter("a", 0, 10, ac.signal)),
      label("b1", enter("b")),
      label("a3", enter("a")),
      label("urgent", enter("c", 5)),
    ];
    await new Promise((r) => setImmediate(r)); // each has asked the gate and queued
    expect(q.depth("m")).to.equal(5);
    ac.abort();
    expect(q.depth("m")).to.equal(4);
    for (let i = 0; i < 4; i++) await serveOne();
    expect(await Promise.all(pending)).to.deep.equal(["a1", "a2:aborted", "b1", "a3", "urgent"]);
    expect(order).to.deep.equal(["first", "c", "a", "b", "a"]);
    expect(q.depth("m")).to.equal(0);
  });

  it("times out waiters and honours abort signals", async () => {
    const { enter } = setup(1, "vtc", { maxWaitMs: 30 });
    await enter("a");
    const t = await enter("b");
    expect(t).to.deep.include({ ok: false, reason: "timeout" });
    const ac = new AbortController();
    const p = enter("c", 0, 10, ac.signal);
    ac.abort();
    expect(await p).to.deep.include({ ok: false, reason: "aborted" });
  });

  it("retries its gate on a timer when capacity frees elsewhere (no finish event here)", async () => {
    const { enter, gate } = setup(1);
    await enter("a");
    const p = enter("b");
    gate.used = 0; // capacity freed by another replica
    const o = await p;
    expect(o.ok).to.equal(true);
  });
});
