// VTC counters charged on one replica become visible on another through Redis.
import { expect } from "chai";
import { Redis } from "ioredis";
import { RedisVtcCounters } from "../../../../router/flow-control/fairness/vtc-counters.js";
import { startRedis, type RunningRedis } from "../../../support/redis-server.js";

describe("shared VTC counters", function () {
  this.timeout(20_000);
  let redis: RunningRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it("merges charges and lifts from two replicas", async () => {
    const ra = new Redis(redis.url);
    const rb = new Redis(redis.url);
    const a = new RedisVtcCounters(ra, "vtc-test:", 1000);
    const b = new RedisVtcCounters(rb, "vtc-test:", 1000);
    try {
      a.add("m", "u1", 100);
      b.add("m", "u1", 50);
      b.lift("m", "u2", 70);
      b.get("m", "u1"); // b knows the model
      a.get("m", "u2");
      await a.sync();
      await b.sync();
      await a.sync();
      expect(a.get("m", "u1")).to.equal(150);
      expect(b.get("m", "u1")).to.equal(150);
      expect(a.get("m", "u2")).to.equal(70);
      // A lift below the stored value changes nothing.
      a.lift("m", "u2", 10);
      await a.sync();
      expect(a.get("m", "u2")).to.equal(70);
    } finally {
      await a.close();
      await b.close();
      ra.disconnect();
      rb.disconnect();
    }
  });
});
