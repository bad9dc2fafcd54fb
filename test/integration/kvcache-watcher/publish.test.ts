// The membership write against a real redis-server: the version moves only when the node list does, and two
// writers racing on one change bump it once.
import { expect } from "chai";
import { Redis } from "ioredis";
import { publish } from "../../../kvcache-watcher/membership.js";
import { clusterNodes } from "../../../kvcache-watcher/ring.js";
import { startRedis, type RunningRedis } from "../../support/redis-server.js";

describe("kvcache-watcher membership in Redis", function () {
  this.timeout(30_000);
  let server: RunningRedis;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  const nodes = (n: number) =>
    clusterNodes(
      Array.from({ length: n }, (_, i) => ({ name: `kc-${i}`, addr: `10.0.0.${i + 1}` })),
      18512,
      4096,
      100,
    );

  it("writes upstream's ClusterNodes JSON and bumps the version only on a membership change", async () => {
    const key = "hpkv_cluster_metadata";
    expect(await publish(redis, key, nodes(2))).to.deep.equal({ version: 1, changed: true });
    expect(await publish(redis, key, nodes(2))).to.deep.equal({ version: 1, changed: false });
    const stored = JSON.parse((await redis.get(key))!) as {
      version: number;
      nodes: { name: string; port: number; slots: unknown[] }[];
    };
    expect(stored.version).to.equal(1);
    expect(stored.nodes.map((n) => n.name)).to.deep.equal(["kc-0", "kc-1"]);
    expect(stored.nodes[0]).to.have.all.keys("name", "addr", "port", "slots");
    expect(await publish(redis, key, nodes(3))).to.deep.equal({ version: 2, changed: true });
    expect(await publish(redis, key, nodes(3))).to.deep.equal({ version: 2, changed: false });
    // An address change (a restarted pod) is a membership change too.
    const moved = nodes(3).map((n) => (n.name === "kc-0" ? { ...n, addr: "10.0.1.1" } : n));
    expect(await publish(redis, key, moved)).to.deep.equal({ version: 3, changed: true });
  });

  it("two writers publishing the same change concurrently bump the version once", async () => {
    const key = "kvcache_nodes";
    const other = new Redis(server.url);
    try {
      await publish(redis, key, nodes(1));
      const results = await Promise.all([publish(redis, key, nodes(4)), publish(other, key, nodes(4))]);
      expect(results.map((r) => r.version)).to.deep.equal([2, 2]);
      expect(results.filter((r) => r.changed)).to.have.length(1);
    } finally {
      other.disconnect();
    }
  });
});
