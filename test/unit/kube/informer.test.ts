import { expect } from "chai";
import { setTimeout as sleep } from "node:timers/promises";
import { SharedInformer } from "../../../kube/informer.js";
import { Informers } from "../../../kube/informers.js";
import type { KubeObject } from "../../../kube/objects.js";
import { Resources } from "../../../kube/resources.js";
import { labelIndex } from "../../../kube/store.js";
import { until } from "../../support/until.js";
import { FakeCollection } from "./fake-apiserver.js";

function recorder() {
  const events: string[] = [];
  return {
    events,
    handler: {
      onAdd: (o: KubeObject) => events.push(`add ${o.metadata?.name}`),
      onUpdate: (_: KubeObject, o: KubeObject) => events.push(`update ${o.metadata?.name}`),
      onDelete: (o: KubeObject) => events.push(`delete ${o.metadata?.name}`),
    },
  };
}

describe("kube/informer", () => {
  let api: FakeCollection;
  let informer: SharedInformer<KubeObject> | undefined;
  afterEach(async () => {
    await informer?.stop();
    await api.stop();
  });

  async function start(fast = true) {
    api = new FakeCollection();
    api.put("a", { metadata: { labels: { node: "n1" } } });
    const client = await api.start();
    informer = new SharedInformer(client, Resources.pods, fast ? { backoffMs: { initial: 20, max: 40 } } : {});
    informer.addIndexers({ node: labelIndex("node") });
    const rec = recorder();
    informer.addHandler(rec.handler);
    informer.start();
    await informer.synced;
    await until("api.openWatches === 1", () => api.openWatches === 1, 2000);
    return rec;
  }

  it("lists, then watches from the list's version and applies adds, updates, deletes and bookmarks", async () => {
    const rec = await start();
    expect(api.requests[1], "watch from the list version").to.equal("GET /api/v1/pods?watch@101");
    api.put("b", { metadata: { labels: { node: "n1" } } });
    api.put("a", { metadata: { labels: { node: "n2" } } });
    api.remove("b");
    await until("rec.events.length === 4", () => rec.events.length === 4, 2000);
    expect(rec.events).to.deep.equal(["add a", "add b", "update a", "delete b"]);
    expect(informer!.store.byIndex("node", "n2").map((o) => o.metadata?.name)).to.deep.equal(["a"]);
    expect(informer!.store.byIndex("node", "n1")).to.deep.equal([]);
    api.bookmark();
    const bookmarked = String(api.version);
    api.endWatches(); // a server-side timeout: resume from the bookmark, no relist
    await until("api.openWatches === 1", () => api.openWatches === 1, 2000);
    expect(api.requests.at(-1)).to.equal(`GET /api/v1/pods?watch@${bookmarked}`);
    expect(informer!.lists).to.equal(1);
  });

  it("relists on 410 Gone and reports what changed during the gap as a diff", async () => {
    const rec = await start();
    api.remove("a", { silently: true }); // deleted while the watch was broken: no event reached us
    api.put("c");
    api.expire();
    await until("informer!.lists === 2", () => informer!.lists === 2, 2000);
    await until("rec.events.includes('delete a')", () => rec.events.includes("delete a"), 2000);
    expect(rec.events).to.include.members(["add c", "delete a"]);
    expect(informer!.store.keys()).to.deep.equal(["ns/c"]);
  });

  it("backs off and retries when the API server fails, and syncs once it answers", async () => {
    api = new FakeCollection();
    api.failNext = { status: 500, count: 3 };
    const client = await api.start();
    const errors: string[] = [];
    informer = new SharedInformer(client, Resources.pods, {
      backoffMs: { initial: 10, max: 20 },
      onError: (e) => errors.push(e.message),
    });
    informer.start();
    await informer.synced;
    expect(errors).to.have.length(3);
    expect(errors[0]).to.match(/HTTP 500/);
  });

  it("stop() ends the watch and nothing restarts it, even with a retry pending", async () => {
    await start(false);
    api.failNext = { status: 500, count: 100 };
    api.endWatches(); // the resume now fails and waits in backoff
    await sleep(50);
    await informer!.stop();
    const seen = api.requests.length;
    await sleep(1200);
    expect(api.requests.length, "requests after stop").to.equal(seen);
    expect(api.openWatches).to.equal(0);
    expect(() => informer!.start()).to.throw(/was stopped/);
  });

  it("a late handler is told about every cached object", async () => {
    await start();
    const late = recorder();
    informer!.addHandler(late.handler);
    expect(late.events).to.deep.equal(["add a"]);
  });

  it("the factory gives one informer per resource and selector", async () => {
    api = new FakeCollection();
    const client = await api.start();
    const informers = new Informers(client);
    const a = informers.for(Resources.pods);
    expect(informers.for(Resources.pods)).to.equal(a);
    expect(informers.for({ ...Resources.pods, labelSelector: "x=y" })).to.not.equal(a);
    informers.start();
    await informers.synced();
    expect(informers.allSynced()).to.equal(true);
    await informers.stop();
  });
});
