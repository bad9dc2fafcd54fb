// The extender against an API server on loopback: informers build the state from list+watch, bind posts a real
// Binding carrying the device pin, watch events keep allocation current, and a ConfigMap carries the profiles.
import { expect } from "chai";
import { rm } from "node:fs/promises";
import path from "node:path";
import { pino } from "pino";
import { startExtender, type ExtenderHandle } from "../../../extender/server.js";
import { node, NOW, pod, PRODUCTS, PROFILE_YAML } from "../../unit/extender/fleet.js";
import { FakeApiServer } from "./fake-apiserver.js";

type Obj = Parameters<FakeApiServer["put"]>[1];
const asObj = (o: unknown) => o as Obj;

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  expect(res.status).to.equal(200);
  return res.json();
}

describe("extender with a Kubernetes API server", () => {
  let api: FakeApiServer;
  let ext: ExtenderHandle;
  let kubeconfig: string;

  beforeEach(async () => {
    api = new FakeApiServer();
    await api.start();
    kubeconfig = await api.kubeconfigFile();
    api.put("nodes", asObj(node("h100-a", { product: PRODUCTS.H100, gpus: 8 })));
    api.put("nodes", asObj(node("l4-a", { product: PRODUCTS.L4, gpus: 4 })));
    api.put("pods", asObj(pod("running", { model: "other", gpus: 6, node: "h100-a", devices: "0,1,2,3,4,5" })));
    api.put(
      "configmaps",
      asObj({
        metadata: { name: "aibrix-gpu-profiles", namespace: "aibrix-system" },
        data: { "profiles.yaml": PROFILE_YAML },
      }),
    );
    ext = await startExtender({
      kubeconfig,
      profilesConfigMap: { namespace: "aibrix-system", name: "aibrix-gpu-profiles" },
      logger: pino({ level: "silent" }),
      clock: () => NOW,
    });
    await ext.synced;
  });

  afterEach(async () => {
    await ext.close();
    await api.stop();
    await rm(path.dirname(kubeconfig), { recursive: true, force: true });
  });

  it("answers /readyz once the node and pod informers have listed", async () => {
    const res = await fetch(`${ext.url}/readyz`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ ready: true, nodes: 2 });
  });

  it("stays unready, but alive, while the API server cannot be listed", async () => {
    const gone = new FakeApiServer();
    await gone.start();
    const file = await gone.kubeconfigFile();
    await gone.stop();
    const cut = await startExtender({ kubeconfig: file, logger: pino({ level: "silent" }), clock: () => NOW });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const ready = await fetch(`${cut.url}/readyz`);
      expect(ready.status).to.equal(503);
      expect(await ready.json()).to.deep.equal({
        ready: false,
        reason: "nodes and pods not listed from the API server yet",
      });
      expect((await fetch(`${cut.url}/healthz`)).status).to.equal(200);
    } finally {
      await cut.close();
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });

  it("builds node allocation from listed pods and follows watch events", async () => {
    expect(ext.state.node("h100-a")!.healthyFree).to.equal(2);
    expect(ext.state.node("l4-a")!.healthyFree).to.equal(4);
    api.put("nodes", asObj(node("h100-b", { product: PRODUCTS.H100, gpus: 8, failing: "3" })));
    api.put("pods", asObj(pod("late", { gpus: 2, node: "l4-a", devices: "0,1" })));
    await until(
      () => ext.state.node("h100-b")?.healthyFree === 7 && ext.state.node("l4-a")!.healthyFree === 2,
      "watch",
    );
    api.remove("pods", "default", "running");
    await until(() => ext.state.node("h100-a")!.healthyFree === 8, "pod delete");
    api.remove("nodes", "", "h100-b");
    await until(() => ext.state.node("h100-b") === undefined, "node delete");
  });

  it("filters from the informer cache and the ConfigMap profiles, then binds with pinned devices", async () => {
    const p = pod("llama-0", { model: "llama-70b", gpus: 2 });
    api.put("pods", asObj(p));
    await until(() => ext.state.pendingPod(p.metadata!.uid!) !== undefined, "pending pod");
    const f = (await post(`${ext.urlPrefix}/filter`, { Pod: p, Nodes: null, NodeNames: ["h100-a", "l4-a"] })) as {
      NodeNames: string[];
      FailedAndUnresolvableNodes: Record<string, string>;
    };
    expect(f.NodeNames).to.deep.equal(["h100-a"]);
    expect(f.FailedAndUnresolvableNodes["l4-a"]).to.contain("needs 140 GiB");
    const b = (await post(`${ext.urlPrefix}/bind`, {
      PodName: "llama-0",
      PodNamespace: "default",
      PodUID: p.metadata!.uid,
      Node: "h100-a",
    })) as { Error: string };
    expect(b.Error).to.equal("");
    const binding = api.bindings.at(-1)!.body as {
      metadata: { uid: string; annotations: Record<string, string> };
      target: { name: string; kind: string };
    };
    expect(binding.target).to.deep.include({ kind: "Node", name: "h100-a" });
    expect(binding.metadata.uid).to.equal(p.metadata!.uid);
    expect(binding.metadata.annotations).to.deep.equal({ "scheduling.aibrix.ai/gpu-devices": "6,7" });
    expect(api.pod("default", "llama-0")!.spec!.nodeName).to.equal("h100-a");
    await until(() => ext.state.devicesOf(p.metadata!.uid!)?.join() === "6,7", "bound pod from watch");
    expect(ext.state.node("h100-a")!.healthyFree).to.equal(0);
    // A second pod now finds the node full (resolvable by preemption).
    const q = pod("llama-1", { model: "llama-70b", gpus: 2 });
    const f2 = (await post(`${ext.urlPrefix}/filter`, { Pod: q, NodeNames: ["h100-a"] })) as {
      FailedNodes: Record<string, string>;
    };
    expect(f2.FailedNodes["h100-a"]).to.equal("fewer than 2 free healthy GPUs");
  });

  it("settles two binds of the same pod to one, and reports API refusals as bind errors", async () => {
    api.bindDelayMs = 30;
    const p = pod("direct", { model: "llama-8b", gpus: 1 });
    api.put("pods", asObj(p));
    const args = { PodName: "direct", PodNamespace: "default", PodUID: p.metadata!.uid, Node: "l4-a" };
    const [a, b] = (await Promise.all([post(`${ext.urlPrefix}/bind`, args), post(`${ext.urlPrefix}/bind`, args)])) as {
      Error: string;
    }[];
    // One of two retries of the same pod wins; the other is refused without leaking devices.
    const errors = [a!.Error, b!.Error].sort();
    expect(errors[0]).to.equal("");
    expect(errors[1]).to.match(/already (bound|assigned)/);
    await until(() => ext.state.node("l4-a")!.healthyFree === 3, "one device held");
    const gone = (await post(`${ext.urlPrefix}/bind`, { ...args, PodName: "nobody", PodUID: "u-x" })) as {
      Error: string;
    };
    expect(gone.Error).to.match(
      /cannot read pod default\/nobody to count its GPUs: .*HTTP 404: pods "nobody" not found/,
    );
  });

  it("reloads profiles when the ConfigMap changes", async () => {
    const m = pod("m", { model: "llama-8b", gpus: 1 });
    api.put("nodes", asObj(node("a10g-a", { product: PRODUCTS.A10G, gpus: 4 })));
    await until(() => ext.state.node("a10g-a") !== undefined, "node");
    const passed = async () =>
      ((await post(`${ext.urlPrefix}/filter`, { Pod: m, NodeNames: ["a10g-a"] })) as { NodeNames: string[] }).NodeNames;
    expect(await passed()).to.deep.equal([]);
    api.put(
      "configmaps",
      asObj({
        metadata: { name: "aibrix-gpu-profiles", namespace: "aibrix-system" },
        data: { "profiles.yaml": PROFILE_YAML.replace("tputs: [[0, 0], [0, 0]]", "tputs: [[2, 1], [1, 1]]") },
      }),
    );
    await until(async () => (await passed()).length === 1, "configmap reload");
  });
});
