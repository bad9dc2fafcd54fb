// Two router-side prefix indexes sharing one real redis-server: replication, own-message filtering, Redis outage
// and recovery on the same port.
import { expect } from "chai";
import { PrefixIndex } from "../../../router/picking/prefix-index.js";
import { PrefixSync } from "../../../router/picking/prefix-sync.js";
import { startRedis, type RunningRedis } from "../../support/redis-server.js";
import { until } from "../../support/until.js";

const opts = { maxBlocks: 10_000, ttlMs: 60_000 };
const ids = ["10.0.0.1:8000", "10.0.0.2:8000"];

describe("prefix index sharing over Redis pub/sub", function () {
  this.timeout(20_000);
  let redis: RunningRedis;
  let a: PrefixIndex, b: PrefixIndex;
  let syncA: PrefixSync, syncB: PrefixSync;
  const errors: string[] = [];

  before(async () => {
    redis = await startRedis();
    a = new PrefixIndex(opts);
    b = new PrefixIndex(opts);
    syncA = new PrefixSync(a, { redisUrl: redis.url, flushMs: 20, onError: (e) => errors.push(e.message) });
    // A small message cap on B so its 300 inserts travel as several messages.
    syncB = new PrefixSync(b, {
      redisUrl: redis.url,
      flushMs: 20,
      maxHashesPerMessage: 64,
      onError: (e) => errors.push(e.message),
    });
    // Both subscribers must be registered before anything is published (pub/sub keeps no history).
    await until("both subscribers", () => subscribed(syncA) && subscribed(syncB));
  });

  after(async () => {
    await syncA?.close();
    await syncB?.close();
    await redis?.stop();
  });

  it("an insert on A is matched on B within a second, and A ignores its own message", async () => {
    const hashes = [11n, 2n ** 64n - 5n, 33n];
    a.insert("llama", hashes, ids[0]!, Date.now());
    const took = await until("B to learn A's insert", () => b.matchDepths("llama", hashes, ids, Date.now()).size > 0);
    expect(took).to.be.below(1000);
    expect(b.matchDepths("llama", hashes, ids, Date.now()).get(ids[0]!)).to.equal(3);
    await until("A to see its own message", () => syncA.stats.ignoredOwn >= 1);
    expect(syncA.stats.applied).to.equal(0);
    expect(syncB.stats.applied).to.equal(1);
    // B applying a remote insert does not echo it back.
    await new Promise((r) => setTimeout(r, 100));
    expect(syncB.stats.published).to.equal(0);
    expect(syncA.stats.applied).to.equal(0);
  });

  it("replicates both ways, batching many inserts", async () => {
    for (let i = 0; i < 300; i++) b.insert("llama", [1000n + BigInt(i)], ids[1]!, Date.now());
    await until("A to learn B's 300 inserts", () => syncA.stats.applied >= 300);
    expect(syncA.stats.applied).to.equal(300);
    expect(syncA.stats.received).to.be.at.least(300 / 64);
    expect(a.matchDepths("llama", [1299n], ids, Date.now()).get(ids[1]!)).to.equal(1);
    expect(a.size("llama")).to.equal(3 + 300);
  });

  it("keeps serving from the local index while Redis is down, and resumes after it restarts", async () => {
    await redis.stop();
    await until("A to notice the outage", () => !subscribed(syncA));
    const local = [500n, 501n];
    expect(() => a.insert("llama", local, ids[0]!, Date.now())).to.not.throw();
    expect(a.matchDepths("llama", local, ids, Date.now()).get(ids[0]!)).to.equal(2);
    await until("the queued batch to be dropped", () => syncA.stats.dropped >= 1);
    expect(errors.length).to.be.greaterThan(0);

    await redis.restart();
    await until("both to reconnect and re-subscribe", () => subscribed(syncA) && subscribed(syncB), 5000);
    const after = [900n, 901n, 902n, 903n];
    a.insert("llama", after, ids[1]!, Date.now());
    await until(
      "B to learn the insert after the restart",
      () => b.matchDepths("llama", after, ids, Date.now()).size > 0,
    );
    expect(b.matchDepths("llama", after, ids, Date.now()).get(ids[1]!)).to.equal(4);
    // What was inserted during the outage stayed local.
    expect(b.matchDepths("llama", local, ids, Date.now()).size).to.equal(0);
  });
});

function subscribed(s: PrefixSync): boolean {
  return s.ready;
}
