import { expect } from "chai";
import { startManager, type RunningManager } from "../../../kube/manager.js";
import type { KubeObject } from "../../../kube/objects.js";
import { Resources } from "../../../kube/resources.js";
import { until } from "../../support/until.js";
import { FakeCollection } from "./fake-apiserver.js";

const quiet = { info() {}, warn() {}, error() {} };

describe("kube/manager probes", () => {
  let api: FakeCollection;
  let manager: RunningManager | undefined;
  afterEach(async () => {
    await manager?.close();
    await api.stop();
  });

  it("serves /healthz, /readyz, /metrics with the controllers' and the API client's series, and a helpful 404", async () => {
    api = new FakeCollection();
    api.put("a");
    const reconciled: string[] = [];
    manager = await startManager({
      client: await api.start(),
      leaderElection: false,
      log: quiet,
      controllers: [
        {
          name: "pods",
          setup: (ctx) => ({
            name: "pods",
            for: ctx.informers.for<KubeObject>(Resources.pods),
            reconcile: async (key) => void reconciled.push(key),
          }),
        },
      ],
    });
    const get = async (path: string) => {
      const res = await fetch(`${manager!.url}${path}`);
      return { status: res.status, text: await res.text() };
    };
    expect(await get("/healthz")).to.deep.equal({ status: 200, text: "ok" });
    await until("a reconcile", () => reconciled.includes("ns/a"), 2000);
    expect(await get("/readyz")).to.deep.equal({ status: 200, text: "ok" });
    const metrics = await get("/metrics");
    expect(metrics.text).to.match(/controller_runtime_reconcile_total\{controller="pods",result="success"\} [1-9]/);
    expect(metrics.text).to.match(/rest_client_requests_total\{code="200",method="GET"\} [1-9]/);
    const missing = await get("/nope");
    expect(missing.status).to.equal(404);
    expect(missing.text).to.include("try /healthz, /readyz or /metrics");
  });
});
