// The ModelAdapter controller on the real control plane, run as `aibrix-ts controllers` processes with the chart's
// least-privilege ServiceAccount, against engine-backed pods on 10.244.0.0/16 (inside the network namespace of
// scripts/netns.sh, so the adapter's EndpointSlice accepts the pod addresses), and through the router.
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { LoopbackCluster } from "../../cluster/index.js";
import { startEnginePods, type EnginePods } from "../../cluster/engine-pods.js";
import { KubernetesDiscovery } from "../../router/discovery/kubernetes.js";
import { startRouter, type Router } from "../../router/server.js";
import { SYSTEM_NAMESPACE as SYSTEM, startControllersCluster } from "../support/controllers-cluster.js";
import { loraDeployment, startControllersProcess } from "../support/controllers-process.js";
import { waitFor, waitForEvent } from "./env.js";

const run = promisify(execFile);
const NS = "serving";
const MODEL = "llama-3-8b";
const LEASE = "aibrix-ts-controllers";

type Adapter = {
  metadata: { name: string; finalizers?: string[]; deletionTimestamp?: string };
  status?: {
    phase?: string;
    instances?: string[];
    candidates?: number;
    desiredReplicas?: number;
    readyReplicas?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};
type Pod = { metadata: { name: string }; status: { podIP?: string; conditions?: { type: string; status: string }[] } };

function adapterManifest(name: string, artifactURL: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "model.aibrix.ai/v1alpha1",
    kind: "ModelAdapter",
    metadata: { name, namespace: NS },
    spec: { baseModel: MODEL, podSelector: { matchLabels: { app: "llama" } }, artifactURL, ...extra },
  };
}

async function modelsOf(ip: string): Promise<string[]> {
  const res = await fetch(`http://${ip}:8000/v1/models`, { signal: AbortSignal.timeout(2_000) });
  return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
}

describe("ModelAdapter controller on the loopback cluster", function () {
  let cluster: LoopbackCluster;
  let engines: EnginePods;
  let router: Router | undefined;
  let kubeconfig: string;
  const controllers = new Map<string, ChildProcess>();
  /** Real loads per pod IP (engine refusals of a duplicate load never reach this count). */
  const loads = new Map<string, number>();
  const api = () => cluster.api;
  const adapterPath = (name = "") =>
    `/apis/model.aibrix.ai/v1alpha1/namespaces/${NS}/modeladapters${name ? `/${name}` : ""}`;
  const getAdapter = (name: string) => api().get<Adapter>(adapterPath(name));
  const readyPods = async () =>
    (await api().get<{ items: Pod[] }>(`/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dllama`)).items.filter((p) =>
      p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );

  async function startControllers(identity: string): Promise<void> {
    const flags = ["--leader-elect-namespace", SYSTEM, "--leader-elect-lease-duration", "3"];
    const { child } = await startControllersProcess(kubeconfig, flags, { POD_NAME: identity });
    controllers.set(identity, child);
  }

  const leaseHolder = async () =>
    (
      await api().get<{ spec?: { holderIdentity?: string } }>(
        `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM}/leases/${LEASE}`,
      )
    ).spec?.holderIdentity ?? "";

  before(async function () {
    this.timeout(60 * 60_000);
    ({ cluster, kubeconfig } = await startControllersCluster({
      namespaces: [NS],
      nodes: [{ name: "gpu-a100", count: 2, gpusPerNode: 8, product: "NVIDIA-A100-SXM4-80GB" }],
    }));
    engines = await startEnginePods({
      kubeconfig: cluster.kubeconfig,
      namespace: NS,
      speedup: 20,
      simulator: { loraApiLoadMs: 50 },
    });
    await api().create(`/apis/apps/v1/namespaces/${NS}/deployments`, loraDeployment(MODEL, 3, 4));
    const up = await engines.waitForEngines(3, { timeoutMs: 60_000 });
    for (const e of up) countLoads(e.ip, e.simulator!);
    await waitFor("3 Ready pods", 30_000, async () => ((await readyPods()).length === 3 ? true : undefined));
    await startControllers("ctl-a");
    await waitFor("a leader", 30_000, async () => ((await leaseHolder().catch(() => "")) ? true : undefined));
    await startControllers("ctl-b");
  });

  function countLoads(ip: string, sim: { loadAdapter(name: string, path?: string): Promise<void> }) {
    const original = sim.loadAdapter.bind(sim);
    sim.loadAdapter = async (name: string, p?: string) => {
      loads.set(ip, (loads.get(ip) ?? 0) + 1);
      await original(name, p);
    };
  }

  after(async function () {
    this.timeout(60_000);
    for (const c of controllers.values()) c.kill("SIGKILL");
    await router?.close();
    await engines?.stop();
    await cluster?.stop();
  });

  it("loads an adapter on every matching pod and reports it as upstream does, with a Service and EndpointSlice", async function () {
    this.timeout(120_000);
    await api().create(adapterPath(), adapterManifest("sql-lora", "huggingface://org/sql-lora"));
    const adapter = await waitFor("sql-lora Running on 3 pods", 60_000, async () => {
      const a = await getAdapter("sql-lora");
      return a.status?.phase === "Running" && a.status.instances?.length === 3 ? a : undefined;
    });
    expect(adapter.metadata.finalizers).to.include("adapter.model.aibrix.ai/finalizer");
    expect(adapter.status).to.include({ candidates: 3, desiredReplicas: 3, readyReplicas: 3 });
    expect(adapter.status?.conditions?.find((c) => c.type === "Ready")).to.include({
      status: "True",
      reason: "ModelAdapterAvailable",
    });
    const pods = await readyPods();
    for (const p of pods) expect(await modelsOf(p.status.podIP!), p.metadata.name).to.include("sql-lora");
    const svc = await api().get<{ spec: { clusterIP: string; publishNotReadyAddresses: boolean } }>(
      `/api/v1/namespaces/${NS}/services/sql-lora`,
    );
    expect(svc.spec).to.include({ clusterIP: "None", publishNotReadyAddresses: true });
    const slice = await api().get<{ endpoints: { addresses: string[] }[] }>(
      `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/sql-lora`,
    );
    expect(slice.endpoints.map((e) => e.addresses[0]).sort()).to.deep.equal(pods.map((p) => p.status.podIP).sort());
    // kubectl shows the printer columns upstream shows, Candidates an integer.
    const { stdout } = await run(join(cluster.state.binDir, "kubectl"), [
      "--kubeconfig",
      cluster.kubeconfig,
      "get",
      "modeladapters",
      "-n",
      NS,
    ]);
    expect(stdout).to.match(/NAME\s+PHASE\s+DESIRED\s+READY\s+CANDIDATES\s+MODEL PATH\s+AGE/);
    expect(stdout).to.match(/sql-lora\s+Running\s+3\s+3\s+3\s+huggingface:\/\/org\/sql-lora/);
  });

  it("requests for the adapter route through the router to pods that hold it", async function () {
    this.timeout(60_000);
    router = await startRouter({
      host: "127.0.0.1",
      port: 0,
      discovery: new KubernetesDiscovery({ kubeconfig: cluster.kubeconfig, namespace: NS }),
      logLevel: "error",
    });
    const res = await waitFor("a 200 for model sql-lora", 20_000, async () => {
      const r = await fetch(`${router!.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "sql-lora", messages: [{ role: "user", content: "hi" }], max_tokens: 4 }),
      });
      return r.status === 200 ? r : undefined;
    });
    expect(((await res.json()) as { model: string }).model).to.equal("sql-lora");
  });

  it("reloads on an engine that restarted, within one resync", async function () {
    this.timeout(60_000);
    const pod = (await readyPods())[0]!;
    const restarted = await engines.restartEngine(`${NS}/${pod.metadata.name}`);
    countLoads(restarted.ip, restarted.simulator!);
    expect(await modelsOf(restarted.ip)).to.not.include("sql-lora");
    const took = Date.now();
    await waitFor("the adapter back on the restarted engine", 25_000, async () =>
      (await modelsOf(restarted.ip).catch((): string[] => [])).includes("sql-lora") ? true : undefined,
    );
    expect(Date.now() - took, "within one 10 s resync plus the engine's restart").to.be.below(22_000);
  });

  it("gives the adapter to a new pod when the Deployment scales up", async function () {
    this.timeout(90_000);
    await api().mergePatch(`/apis/apps/v1/namespaces/${NS}/deployments/llama`, { spec: { replicas: 4 } });
    const up = await engines.waitForEngines(4, { timeoutMs: 60_000 });
    for (const e of up) if (!loads.has(e.ip)) countLoads(e.ip, e.simulator!);
    const a = await waitFor("sql-lora on 4 pods", 40_000, async () => {
      const x = await getAdapter("sql-lora");
      return x.status?.instances?.length === 4 ? x : undefined;
    });
    expect(a.status).to.include({ candidates: 4, readyReplicas: 4 });
  });

  it("an artifact the engine cannot fetch fails with a message a person can act on", async function () {
    this.timeout(60_000);
    await api().create(adapterPath(), adapterManifest("s3-lora", "s3://models/s3-lora"));
    const failed = await waitFor("s3-lora Failed", 30_000, async () => {
      const a = await getAdapter("s3-lora");
      return a.status?.phase === "Failed" ? a : undefined;
    });
    const ready = failed.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready).to.include({ status: "False", reason: "ModelAdapterLoadingError" });
    expect(ready?.message).to.match(/s3:\/\/models\/s3-lora .*sidecar-injection/);
    await waitForEvent(api(), NS, "s3-lora", "LoadFailed");
  });

  it("the standby takes the lease when the leader is killed and carries on, loading nothing twice", async function () {
    this.timeout(90_000);
    const leader = await leaseHolder();
    const before = [...loads.values()].reduce((a, b) => a + b, 0);
    const victim = [...controllers.entries()].find(([id]) => leader.startsWith(id));
    expect(victim, `leader ${leader} is one of ours`).to.not.equal(undefined);
    victim![1].kill("SIGKILL");
    const took = Date.now();
    await waitFor("a new leader", 30_000, async () => {
      const h = await leaseHolder();
      return h && h !== leader ? true : undefined;
    });
    expect(Date.now() - took, "hand-over within about a lease duration plus a retry").to.be.below(15_000);
    await api().create(adapterPath(), adapterManifest("chat-lora", "huggingface://org/chat-lora", { replicas: 1 }));
    const chat = await waitFor("chat-lora Running on one pod", 40_000, async () => {
      const a = await getAdapter("chat-lora");
      return a.status?.phase === "Running" ? a : undefined;
    });
    expect(chat.status?.instances).to.have.length(1);
    expect(chat.status).to.include({ desiredReplicas: 1, candidates: 4 });
    const after = [...loads.values()].reduce((a, b) => a + b, 0);
    expect(after - before, "only chat-lora's one load: sql-lora was not loaded again").to.equal(1);
  });

  it("on delete unloads everywhere, removes the finalizer, and the garbage collector takes the Service", async function () {
    this.timeout(60_000);
    const ips = (await readyPods()).map((p) => p.status.podIP!);
    await api().delete(adapterPath("sql-lora"));
    await waitFor("sql-lora gone", 30_000, async () =>
      (await api().request("GET", adapterPath("sql-lora"))).status === 404 ? true : undefined,
    );
    for (const ip of ips) expect(await modelsOf(ip), ip).to.not.include("sql-lora");
    await waitFor("Service sql-lora collected", 30_000, async () =>
      (await api().request("GET", `/api/v1/namespaces/${NS}/services/sql-lora`)).status === 404 ? true : undefined,
    );
  });
});
