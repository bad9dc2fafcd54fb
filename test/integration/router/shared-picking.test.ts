// vtc-basic's token window and power-of-two's in-flight counts shared between replicas through a real redis-server:
// what one replica charges or has in flight counts on the other; key rotation and TTL; Redis going away and back.
import { expect } from "chai";
import { Redis } from "ioredis";
import { SharedInFlight } from "../../../router/picking/shared-inflight.js";
import { RedisUserTokenWindow } from "../../../router/picking/user-token-window.js";
import { startRedis, type RunningRedis } from "../../support/redis-server.js";
import { until } from "../../support/until.js";

describe("picking state shared through Redis", function () {
  this.timeout(30_000);
  let redis: RunningRedis;
  let raw: Redis;

  before(async () => {
    redis = await startRedis();
    raw = new Redis(redis.url);
  });
  after(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  it("a user's tokens charged on one replica count on the other, and expire with the window", async () => {
    const opts = { redisUrl: redis.url, windowMs: 1500, sliceMs: 100, syncMs: 20, prefix: "t1:" };
    const a = new RedisUserTokenWindow(opts);
    const b = new RedisUserTokenWindow(opts);
    try {
      a.add("heavy", 40_000, Date.now());
      b.add("light", 5, Date.now());
      await until("B to see A's charge", () => b.get("heavy", Date.now()) === 40_000);
      await until("A to see B's charge", () => a.get("light", Date.now()) === 5);
      expect(b.minMax(Date.now())).to.deep.equal({ min: 5, max: 40_000 });
      // A's own charge is not counted twice after the round trip.
      expect(a.get("heavy", Date.now())).to.equal(40_000);
      const keys = await raw.keys("t1:*");
      expect(keys.length).to.be.at.least(1);
      const ttl = await raw.pttl(keys[0]!);
      expect(ttl).to.be.within(1, 1500 + 2 * 100);
      await until("the window to pass", () => b.get("heavy", Date.now()) === 0, 4000);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a replica started later learns the whole live window", async () => {
    const opts = { redisUrl: redis.url, windowMs: 60_000, sliceMs: 100, syncMs: 20, prefix: "t2:" };
    const a = new RedisUserTokenWindow(opts);
    a.add("u", 100, Date.now() - 1000);
    a.add("u", 50, Date.now());
    await a.sync();
    const late = new RedisUserTokenWindow(opts);
    try {
      await until("the late replica's first full pull", () => late.get("u", Date.now()) === 150);
    } finally {
      await a.close();
      await late.close();
    }
  });

  it("power-of-two counts: each replica sees the other's in-flight requests; hourly key with a 5-minute TTL", async () => {
    const localA = new Map([["10.0.0.1:8000", 3]]);
    const localB = new Map([
      ["10.0.0.1:8000", 1],
      ["10.0.0.2:8000", 4],
    ]);
    const a = new SharedInFlight({ redisUrl: redis.url, local: () => localA, syncMs: 20, prefix: "t3:" });
    const b = new SharedInFlight({ redisUrl: redis.url, local: () => localB, syncMs: 20, prefix: "t3:" });
    try {
      await until("A to see B", () => a.remoteInFlight("10.0.0.2:8000") === 4);
      expect(a.remoteInFlight("10.0.0.1:8000")).to.equal(1);
      await until("B to see A", () => b.remoteInFlight("10.0.0.1:8000") === 3);
      expect(b.remoteInFlight("10.0.0.2:8000")).to.equal(0);
      const key = a.keyFor(Date.now());
      expect(key).to.equal(`t3:${Math.floor(Date.now() / 3_600_000)}`);
      const ttl = await raw.pttl(key);
      expect(ttl).to.be.within(290_000, 300_000);
      localA.set("10.0.0.1:8000", 0);
      await until("B to see A finish", () => b.remoteInFlight("10.0.0.1:8000") === 0);
      localA.set("10.0.0.1:8000", 7);
      await until("B to see A again", () => b.remoteInFlight("10.0.0.1:8000") === 7);
      await a.close();
      await until("B to drop a closed replica", () => b.remoteInFlight("10.0.0.1:8000") === 0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("while Redis is away the shared view empties and local state keeps working; it recovers when Redis returns", async () => {
    const errors: string[] = [];
    const local = new Map([["10.0.0.9:8000", 2]]);
    const other = new SharedInFlight({ redisUrl: redis.url, local: () => local, syncMs: 20, prefix: "t4:" });
    const me = new SharedInFlight({
      redisUrl: redis.url,
      local: () => new Map(),
      syncMs: 20,
      prefix: "t4:",
      onError: (e) => errors.push(e.message),
    });
    const window = new RedisUserTokenWindow({ redisUrl: redis.url, syncMs: 20, prefix: "t5:" });
    try {
      await until("the other's counts", () => me.remoteInFlight("10.0.0.9:8000") === 2);
      await redis.stop();
      await until("the shared view to empty", () => me.remoteInFlight("10.0.0.9:8000") === 0);
      window.add("u", 10, Date.now());
      expect(window.get("u", Date.now())).to.equal(10);
      await until("the outage to be reported", () => errors.length > 0);
      await redis.restart();
      await until("the other's counts again", () => me.remoteInFlight("10.0.0.9:8000") === 2, 8000);
      // The charge made during the outage reaches Redis once it is back.
      const fresh = new RedisUserTokenWindow({ redisUrl: redis.url, syncMs: 20, prefix: "t5:" });
      try {
        await until("a new replica to see the outage charge", () => fresh.get("u", Date.now()) === 10, 5000);
      } finally {
        await fresh.close();
      }
    } finally {
      await other.close();
      await me.close();
      await window.close();
    }
  });
});
