import { expect } from "chai";
import { setTimeout as sleep } from "node:timers/promises";
import { Registry } from "prom-client";
import { Controller, ControllerMetrics } from "../../../kube/controller.js";
import { SharedInformer } from "../../../kube/informer.js";
import { ControllerSelectionError, selectControllers } from "../../../kube/manager.js";
import type { KubeObject } from "../../../kube/objects.js";
import { Resources } from "../../../kube/resources.js";
import { WorkQueueMetrics } from "../../../kube/workqueue.js";
import { until } from "../../support/until.js";
import { FakeCollection } from "./fake-apiserver.js";

describe("kube/controller", () => {
  let api: FakeCollection;
  let informer: SharedInformer<KubeObject>;
  let controller: Controller | undefined;
  afterEach(async () => {
    await controller?.stop();
    await informer.stop();
    await api.stop();
  });

  async function setup(reconcile: (key: string) => Promise<{ requeueAfterMs?: number } | void>, extra = {}) {
    api = new FakeCollection();
    api.put("a");
    const client = await api.start();
    informer = new SharedInformer(client, Resources.pods);
    const registry = new Registry();
    controller = new Controller(
      { name: "test", for: informer, reconcile, backoffMs: { base: 10, max: 40 }, ...extra },
      { controller: new ControllerMetrics(registry), queue: new WorkQueueMetrics(registry) },
    );
    informer.start();
    await controller.start();
    await until("the watch", () => api.openWatches === 1, 2000);
    return registry;
  }

  it("reconciles each key, never the same key twice at once, and again after a change during the reconcile", async () => {
    const seen: string[] = [];
    let active = 0;
    let overlap = false;
    await setup(async (key) => {
      active++;
      if (active > 1) overlap = true;
      seen.push(key);
      await sleep(30);
      active--;
    });
    await until("first reconcile", () => seen.length === 1);
    api.put("a", { metadata: { labels: { x: "1" } } }); // changes while being reconciled
    await until("second reconcile", () => seen.length === 2, 2000);
    expect(seen).to.deep.equal(["ns/a", "ns/a"]);
    expect(overlap).to.equal(false);
  });

  it("backs off on errors, honours requeueAfter, and counts results under controller-runtime's names", async () => {
    let calls = 0;
    const registry = await setup(async () => {
      calls++;
      if (calls <= 2) throw new Error("transient");
      if (calls === 3) return { requeueAfterMs: 30 };
    });
    await until("four reconciles", () => calls >= 4, 2000);
    const text = await registry.metrics();
    expect(text).to.match(/controller_runtime_reconcile_total\{controller="test",result="error"\} 2/);
    expect(text).to.match(/controller_runtime_reconcile_total\{controller="test",result="requeue_after"\} 1/);
    expect(text).to.match(/controller_runtime_reconcile_errors_total\{controller="test"\} 2/);
    expect(text).to.match(/workqueue_retries_total\{name="test"\} 2/);
  });

  it("maps owned objects to their controlling owner", async () => {
    const seen: string[] = [];
    api = new FakeCollection();
    const client = await api.start();
    const owners = new SharedInformer<KubeObject>(client, { ...Resources.modelAdapters });
    informer = new SharedInformer(client, Resources.services);
    controller = new Controller({
      name: "owner-test",
      for: owners,
      owns: [informer],
      reconcile: async (key) => void seen.push(key),
    });
    const service = {
      metadata: {
        namespace: "ns",
        ownerReferences: [
          { apiVersion: "model.aibrix.ai/v1alpha1", kind: "ModelAdapter", name: "sql", uid: "u", controller: true },
        ],
      },
    };
    api.put("svc", service);
    api.put("unowned");
    owners.start();
    informer.start();
    await controller.start();
    await until("owner queued", () => seen.includes("ns/sql"), 2000);
    // The fake serves one collection at every path, so the primary informer lists svc and unowned as adapters too;
    // what matters is that the owned Service queued its owner and nothing else was invented.
    expect(seen.filter((k) => !["ns/sql", "ns/svc", "ns/unowned"].includes(k))).to.deep.equal([]);
    await owners.stop();
  });

  it("selects controllers as upstream's --controllers flag does", () => {
    const known = ["model-adapter", "pod-autoscaler", "kvcache"];
    expect(selectControllers("*", known)).to.deep.equal(known);
    expect(selectControllers("*,-kvcache", known)).to.deep.equal(["model-adapter", "pod-autoscaler"]);
    expect(selectControllers("kvcache", known)).to.deep.equal(["kvcache"]);
    expect(() => selectControllers("*,-nope", known)).to.throw(
      ControllerSelectionError,
      /unknown controller\(s\) nope; known: model-adapter/,
    );
    expect(() => selectControllers("", known)).to.throw(/--controllers is empty/);
  });
});
