import { expect } from "chai";
import { Registry } from "prom-client";
import { WatcherMetrics } from "../../../kvcache-watcher/metrics.js";
import { serveProbes, type ProbeServer } from "../../../kube/probes.js";

describe("kvcache-watcher probes and metrics", () => {
  let server: ProbeServer;
  let why: string | undefined = "cache membership not stored yet";
  const registry = new Registry();
  const metrics = new WatcherMetrics(registry);
  before(async () => {
    server = await serveProbes({ host: "127.0.0.1", port: 0, registry, notReady: () => why });
  });
  after(() => server.close());

  const get = async (path: string) => {
    const res = await fetch(server.url + path);
    return { status: res.status, text: await res.text() };
  };

  it("is live at once, and ready only once the membership is stored, saying why not before", async () => {
    expect(await get("/healthz")).to.deep.equal({ status: 200, text: "ok" });
    expect(await get("/readyz")).to.deep.equal({ status: 503, text: "cache membership not stored yet" });
    why = undefined;
    expect(await get("/readyz")).to.deep.equal({ status: 200, text: "ok" });
    why = "cannot store the cache membership in Redis: ECONNREFUSED";
    expect((await get("/readyz")).status).to.equal(503);
  });

  it("exports the stored ring's version, nodes and slots, and syncs by result", async () => {
    const before = await get("/metrics");
    expect(before.text).to.match(/^aibrix_kvcache_membership_syncs_total\{result="failed"\} 0$/m);
    metrics.synced(3, 2, 4096, true);
    metrics.synced(3, 2, 4096, false);
    metrics.failed();
    const { status, text } = await get("/metrics");
    expect(status).to.equal(200);
    for (const line of [
      "aibrix_kvcache_cluster_version 3",
      "aibrix_kvcache_cluster_nodes 2",
      "aibrix_kvcache_cluster_slots 4096",
      'aibrix_kvcache_membership_syncs_total{result="stored"} 1',
      'aibrix_kvcache_membership_syncs_total{result="unchanged"} 1',
      'aibrix_kvcache_membership_syncs_total{result="failed"} 1',
    ]) {
      expect(text.split("\n")).to.include(line);
    }
    const at = Number(/^aibrix_kvcache_membership_last_sync_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    expect(Math.abs(at - Date.now() / 1000)).to.be.lessThan(60);
  });

  it("answers an unknown path with a 404 naming the routes", async () => {
    const { status, text } = await get("/nope");
    expect(status).to.equal(404);
    expect(text).to.include("/healthz, /readyz or /metrics");
  });

  it("a port already taken fails the start with the address in the message", async () => {
    const port = Number(new URL(server.url).port);
    const clash = serveProbes({ host: "127.0.0.1", port, registry: new Registry(), notReady: () => undefined });
    let error: Error | undefined;
    await clash.catch((e: Error) => (error = e));
    expect(error?.message).to.match(/EADDRINUSE/);
  });
});
