// The VTC guarantee (Sheng et al., OSDI'24): while two users are both backlogged, the weighted service each receives
// differs by at most 2·U, where U is the largest cost of one request — whatever the request sizes.
import { expect } from "chai";
import fc from "fast-check";
import {
  FairQueue,
  defaultFairQueueOptions,
  type CapacityGate,
} from "../../../../router/flow-control/fairness/fair-queue.js";
import { MemoryVtcCounters } from "../../../../router/flow-control/fairness/vtc-counters.js";

class OneSlot implements CapacityGate {
  busy = false;
  tryAcquire() {
    if (this.busy) return false;
    this.busy = true;
    return true;
  }
  release() {
    this.busy = false;
  }
  saturated() {
    return this.busy;
  }
}

interface Size {
  input: number;
  output: number;
}

const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** Serves both users' queued requests one at a time; returns the largest service gap while both were backlogged. */
async function worstGap(sizesA: Size[], sizesB: Size[], policy: "vtc" | "fcfs"): Promise<number> {
  const opts = { ...defaultFairQueueOptions, policy, retryMs: 1 };
  const gate = new OneSlot();
  const q = new FairQueue(opts, new MemoryVtcCounters(), gate);
  await q.enter("m", "starter", 0, 1, "s"); // holds the slot while both users queue
  const dispatched: Array<{ user: "a" | "b"; size: Size }> = [];
  const pending = { a: sizesA.length, b: sizesB.length };
  const submit = (user: "a" | "b", size: Size, i: number) =>
    void q.enter("m", user, 0, size.input, `${user}${i}`).then(() => dispatched.push({ user, size }));
  sizesA.forEach((s, i) => submit("a", s, i));
  sizesB.forEach((s, i) => submit("b", s, i));
  await ticks(3);
  const service = { a: 0, b: 0 };
  let worst = 0;
  while (pending.a > 0 && pending.b > 0) {
    gate.release();
    q.capacityFreed("m");
    await ticks(3);
    const r = dispatched.shift();
    if (!r) throw new Error("nothing was dispatched although capacity was free");
    pending[r.user]--;
    // It ran: input was charged at dispatch, output as it streamed.
    q.chargeOutput("m", r.user, r.size.output);
    service[r.user] += opts.inputWeight * r.size.input + opts.outputWeight * r.size.output;
    worst = Math.max(worst, Math.abs(service.a - service.b));
  }
  q.close();
  return worst;
}

const sizes = fc.array(
  fc.record({ input: fc.integer({ min: 1, max: 300 }), output: fc.integer({ min: 1, max: 300 }) }),
  {
    minLength: 3,
    maxLength: 15,
  },
);

describe("VTC service bound", () => {
  it("keeps two backlogged users within 2·U of each other whatever their request sizes", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, sizes, async (a, b) => {
        const U = Math.max(...[...a, ...b].map((s) => s.input + 2 * s.output));
        return (await worstGap(a, b, "vtc")) <= 2 * U;
      }),
      { numRuns: 50 },
    );
  });

  it("FCFS gives no such bound: big requests from one user starve the other's share", async () => {
    const big = Array.from({ length: 10 }, () => ({ input: 300, output: 300 }));
    const small = Array.from({ length: 10 }, () => ({ input: 1, output: 1 }));
    const U = 900;
    expect(await worstGap(big, small, "fcfs")).to.be.greaterThan(2 * U);
    expect(await worstGap(big, small, "vtc")).to.be.at.most(2 * U);
  });
});
