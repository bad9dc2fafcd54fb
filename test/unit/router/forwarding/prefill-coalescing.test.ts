import { expect } from "chai";
import type { KvEventBatch } from "../../../../engines/kv-events.js";
import { KvBlockIndex } from "../../../../router/picking/kv-index.js";
import { PrefillCoalescer, type WaitOutcome } from "../../../../router/forwarding/prefill-coalescing.js";

const prompt = (prefix: number, blocks: number, suffix: number[]): bigint[] => [
  ...Array.from({ length: blocks }, (_, i) => BigInt(prefix * 1000 + i)),
  ...suffix.map(BigInt),
];
const stored = (hashes: readonly bigint[]): KvEventBatch => ({
  ts: 0,
  events: [{ type: "BlockStored", hashes: [...hashes], tokenIds: [], blockSize: 16 }],
});
/** How the wait ended, or "waiting" while it has not. */
const state = async (p: Promise<WaitOutcome> | undefined): Promise<WaitOutcome | "waiting" | "none"> => {
  if (!p) return "none";
  let outcome: WaitOutcome | "waiting" = "waiting";
  void p.then((o) => (outcome = o));
  await new Promise((r) => setImmediate(r));
  return outcome;
};

describe("prefill coalescing", () => {
  const opts = { minBlocks: 4, maxWaitMs: 5000 };

  it("a second request for a prefix the engine is computing waits until the engine reports it stored", async () => {
    const kv = new KvBlockIndex();
    const c = new PrefillCoalescer(kv, opts);
    const first = prompt(1, 10, [90001]);
    const second = prompt(1, 10, [90002]);
    const leader = c.enter("e1", first);
    expect(leader?.wait).to.equal(undefined);
    const follower = c.enter("e1", second);
    expect(follower?.wait).to.be.instanceOf(Promise);
    expect(await state(follower?.wait)).to.equal("waiting");
    // Blocks of an early chunk are not enough: it waits for the deepest block the two share.
    kv.apply("e1", stored(first.slice(0, 5)));
    c.onBatch("e1", stored(first.slice(0, 5)));
    expect(await state(follower?.wait)).to.equal("waiting");
    kv.apply("e1", stored(first.slice(5, 10)));
    c.onBatch("e1", stored(first.slice(5, 10)));
    expect(await state(follower?.wait)).to.equal("stored");
    // Once stored, the prefix is a plain cache hit: nobody waits for it.
    expect(c.enter("e1", prompt(1, 10, [90003]))).to.equal(undefined);
  });

  it("does not hold requests on another engine, for short prefixes, or for a prefix the engine already holds", () => {
    const kv = new KvBlockIndex();
    const c = new PrefillCoalescer(kv, opts);
    c.enter("e1", prompt(1, 10, [1]));
    expect(c.enter("e2", prompt(1, 10, [2]))?.wait).to.equal(undefined);
    expect(c.enter("e1", prompt(2, 3, []))).to.equal(undefined);
    kv.apply("e1", stored(prompt(3, 10, [])));
    expect(c.enter("e1", prompt(3, 10, [4]))).to.equal(undefined);
  });

  it("releases the waiters when the leading request ends, when its engine goes away, and after maxWaitMs", async () => {
    const kv = new KvBlockIndex();
    const c = new PrefillCoalescer(kv, { minBlocks: 4, maxWaitMs: 30 });
    const leader = c.enter("e1", prompt(1, 10, [1]))!;
    const a = c.enter("e1", prompt(1, 10, [2]))!;
    leader.leave();
    expect(await state(a.wait)).to.equal("released");
    expect(c.computingBlocks("e1")).to.equal(0);

    c.enter("e1", prompt(2, 10, [1]));
    const b = c.enter("e1", prompt(2, 10, [2]))!;
    c.forget("e1");
    expect(await state(b.wait)).to.equal("released");

    c.enter("e1", prompt(3, 10, [1]));
    const t = c.enter("e1", prompt(3, 10, [2]))!;
    expect(await state(t.wait)).to.equal("waiting");
    await new Promise((r) => setTimeout(r, 60));
    expect(await state(t.wait)).to.equal("timeout");
  });

  it("a follower with a long prefix of its own beyond the shared part is in turn waited on", async () => {
    const kv = new KvBlockIndex();
    const c = new PrefillCoalescer(kv, opts);
    c.enter("e1", prompt(1, 10, []));
    const turn2 = [...prompt(1, 10, []), ...prompt(7, 6, [])];
    const f = c.enter("e1", turn2)!;
    expect(f.wait).to.be.instanceOf(Promise);
    const turn2b = [...turn2, 5n];
    const g = c.enter("e1", turn2b)!;
    expect(g.wait).to.be.instanceOf(Promise);
    c.onBatch("e1", stored(prompt(1, 10, [])));
    expect(await state(f.wait)).to.equal("stored");
    expect(await state(g.wait)).to.equal("waiting");
    c.onBatch("e1", stored(prompt(7, 6, [])));
    expect(await state(g.wait)).to.equal("stored");
  });
});
