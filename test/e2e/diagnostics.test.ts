// Diagnostics acting on a real control plane: the agent (mock backend, the chart's least-privilege RBAC) marks a node
// whose GPU reports a DBE, the real kube-scheduler with our extender stops placing GPU pods there, and the marks clear
// after the stable period once the fault is gone.
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { parseProfiles } from "../../api/gpu-profile.js";
import { Diagnostics, Model, Scheduling } from "../../api/labels.js";
import { startDiagnostics, type DiagnosticsAgent } from "../../diagnostics/index.js";
import { startExtender, type ExtenderHandle } from "../../extender/index.js";
import { chartSchedulerProfile, startCluster, type LoopbackCluster } from "../../cluster/index.js";
import { PROFILES, waitFor } from "./env.js";

type Pod = {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { nodeName?: string };
  status: { phase?: string; conditions?: { type: string; status: string; message?: string }[] };
};
type Node = {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { taints?: { key: string; value?: string; effect: string }[] };
  status: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
};

const NODE = "gpu-a100-0";
const STABLE_S = 6;
const HEALTHY = "[gpus]\ncard_count = 8\n";
const DBE_ON_GPU_2 = "[gpus]\ncard_count = 8\n[gpus.2]\ndram_ue = 1\n";

/** A model pod for one GPU that may only go to `node` (so a refusal shows as Pending, with the reasons). */
function pinnedPod(name: string, node: string, gpus = 1) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { [Model.name]: "llama-70b", diag: "yes" } },
    spec: {
      schedulerName: Scheduling.gpuSchedulerName,
      nodeSelector: { "kubernetes.io/hostname": node },
      containers: [
        {
          name: "engine",
          image: "example.invalid/engine:1",
          resources: { limits: { [Scheduling.gpuResource]: String(gpus) } },
        },
      ],
    },
  };
}

describe("e2e: diagnostics marks a faulty node and the scheduler stops using it", function () {
  let cluster: LoopbackCluster | undefined;
  let extender: ExtenderHandle | undefined;
  let agent: DiagnosticsAgent | undefined;
  let dir: string;
  let mockFile: string;
  const c = () => cluster as LoopbackCluster;
  const api = () => c().api;

  /** A kubeconfig for a ServiceAccount holding exactly the chart's diagnostics ClusterRole. */
  async function agentKubeconfig(): Promise<string> {
    const ns = "aibrix-system";
    await api().create("/api/v1/namespaces", { metadata: { name: ns } });
    await api().create(`/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: "diagnostics" } });
    await api().create("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
      metadata: { name: "aibrix-ts-diagnostics" },
      rules: [
        { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] },
        { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
      ],
    });
    await api().create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
      metadata: { name: "aibrix-ts-diagnostics" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "aibrix-ts-diagnostics" },
      subjects: [{ kind: "ServiceAccount", name: "diagnostics", namespace: ns }],
    });
    const token = await api().create<{ status: { token: string } }>(
      `/api/v1/namespaces/${ns}/serviceaccounts/diagnostics/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
    );
    const file = path.join(dir, "diagnostics.kubeconfig");
    writeFileSync(
      file,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          {
            name: "loopback",
            cluster: {
              server: c().state.server,
              "certificate-authority-data": Buffer.from(c().pki.ca.certPem).toString("base64"),
            },
          },
        ],
        users: [{ name: "diagnostics", user: { token: token.status.token } }],
        contexts: [{ name: "diagnostics", context: { cluster: "loopback", user: "diagnostics" } }],
        "current-context": "diagnostics",
      }),
      { mode: 0o600 },
    );
    return file;
  }

  const node = () => api().get<Node>(`/api/v1/nodes/${NODE}`);
  const pod = (name: string) => api().get<Pod>(`/api/v1/namespaces/default/pods/${name}`);

  before(async function () {
    this.timeout(60 * 60_000); // a cold machine builds the binaries first
    dir = mkdtempSync(path.join(os.tmpdir(), "aibrix-e2e-diag-"));
    mockFile = path.join(dir, "gpu_mock_conf.toml");
    writeFileSync(mockFile, HEALTHY);
    cluster = await startCluster({});
    extender = await startExtender({
      host: "127.0.0.1",
      port: 0,
      kubeconfig: cluster.kubeconfig,
      profiles: parseProfiles(PROFILES, "e2e profiles"),
      logLevel: "error",
    });
    await extender.synced;
    await cluster.startGpuScheduler(
      { urlPrefix: extender.urlPrefix, bindVerb: "bind", preemptVerb: "preempt", weight: 5 },
      chartSchedulerProfile(),
    );
    agent = startDiagnostics({
      nodeName: NODE,
      mockFile,
      expectedCards: 8,
      kubeconfig: await agentKubeconfig(),
      intervalMs: 1000,
      stableMs: STABLE_S * 1000,
      refreshMs: 60_000,
      logLevel: "error",
    });
  });

  after(async function () {
    this.timeout(60_000);
    await agent?.stop();
    await extender?.close();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a healthy node is reported healthy (labels, annotations, condition False) and takes GPU pods", async function () {
    this.timeout(60_000);
    const n = await waitFor("the first report", 15_000, async () => {
      const n = await node();
      return n.metadata.annotations?.[Diagnostics.lastReport] ? n : undefined;
    });
    expect(n.metadata.annotations?.[Diagnostics.nodeHealth]).to.equal("healthy");
    expect(n.metadata.labels?.[Diagnostics.nodeHealthLabel]).to.equal("healthy");
    expect(n.status.conditions?.find((x) => x.type === Diagnostics.condition)).to.include({
      status: "False",
      reason: "AcceleratorsHealthy",
    });
    expect(n.spec.taints ?? []).to.deep.equal([]);
    await api().create("/api/v1/namespaces/default/pods", pinnedPod("before-fault", NODE));
    const p = await waitFor("before-fault Running", 30_000, async () => {
      const p = await pod("before-fault");
      return p.status.phase === "Running" ? p : undefined;
    });
    expect(p.spec.nodeName).to.equal(NODE);
  });

  it("a DBE on GPU 2: within 10 s the node is marked and tainted, and new GPU pods no longer land there", async function () {
    this.timeout(90_000);
    const injected = Date.now();
    writeFileSync(mockFile, DBE_ON_GPU_2);
    await waitFor("the extender refusing the node", 10_000, async () =>
      extender!.state.node(NODE)?.health === "unhealthy" ? true : undefined,
    );
    const refusedAfterMs = Date.now() - injected;
    expect(refusedAfterMs).to.be.below(10_000);
    const n = await node();
    expect(n.metadata.annotations?.[Diagnostics.nodeHealth]).to.equal("unhealthy");
    expect(n.metadata.annotations?.[Diagnostics.failingDevices]).to.equal("2");
    expect(n.metadata.annotations?.[Diagnostics.reason]).to.match(/^GPU 2: 1 uncorrectable \(double-bit\) ECC errors/);
    const taint = n.spec.taints?.find((t) => t.key === Diagnostics.faultTaint);
    expect(taint).to.include({ value: "gpu_vram_unrecoverable_errors", effect: "NoSchedule" });
    const cond = await waitFor("the AcceleratorProblem condition", 10_000, async () => {
      const x = (await node()).status.conditions?.find((x) => x.type === Diagnostics.condition);
      return x?.status === "True" ? x : undefined;
    });
    expect(cond.reason).to.equal("GpuVramUnrecoverableErrors");

    // A pod that may only go there waits, with the taint and the extender's reason on record.
    await api().create("/api/v1/namespaces/default/pods", pinnedPod("during-fault", NODE));
    const pending = await waitFor("during-fault refused", 30_000, async () => {
      const p = await pod("during-fault");
      const c = p.status.conditions?.find((x) => x.type === "PodScheduled");
      return c?.status === "False" ? { p, c } : undefined;
    });
    expect(pending.p.spec.nodeName ?? "").to.equal("");
    expect(pending.c.message).to.match(/untolerated taint|diagnostics/);
    // The pod already there stays (NoSchedule), reported by the condition's node.
    expect((await pod("before-fault")).spec.nodeName).to.equal(NODE);
  });

  it("tolerating the taint is not enough: the extender still refuses the node for model pods", async function () {
    this.timeout(60_000);
    const tolerant = pinnedPod("tolerant", NODE) as ReturnType<typeof pinnedPod> & {
      spec: { tolerations?: object[] };
    };
    tolerant.spec.tolerations = [{ key: Diagnostics.faultTaint, operator: "Exists", effect: "NoSchedule" }];
    await api().create("/api/v1/namespaces/default/pods", tolerant);
    const c = await waitFor("tolerant refused", 30_000, async () => {
      const x = (await pod("tolerant")).status.conditions?.find((x) => x.type === "PodScheduled");
      return x?.status === "False" ? x : undefined;
    });
    expect(c.message).to.match(/diagnostics|uncorrectable/);
  });

  it("the fault cleared: the node returns only after the stable period, and the waiting pods land", async function () {
    this.timeout(90_000);
    const cleared = Date.now();
    writeFileSync(mockFile, HEALTHY);
    await waitFor("the extender accepting the node again", (STABLE_S + 15) * 1000, async () =>
      extender!.state.node(NODE)?.health === "ok" ? true : undefined,
    );
    const backAfterMs = Date.now() - cleared;
    expect(backAfterMs).to.be.at.least(STABLE_S * 1000 - 1000);
    const n = await node();
    expect((n.spec.taints ?? []).some((t) => t.key === Diagnostics.faultTaint)).to.equal(false);
    expect(n.metadata.annotations?.[Diagnostics.failingDevices]).to.equal("");
    for (const name of ["during-fault", "tolerant"]) {
      const p = await waitFor(`${name} Running`, 60_000, async () => {
        const p = await pod(name);
        return p.status.phase === "Running" ? p : undefined;
      });
      expect(p.spec.nodeName).to.equal(NODE);
    }
  });

  it("a GPU-level fault (link trained down on GPU 7) excludes just that device, without a taint", async function () {
    this.timeout(60_000);
    writeFileSync(mockFile, "[gpus]\ncard_count = 8\n[gpus.7]\nlink_width_current = 8\n");
    await waitFor("GPU 7 excluded", 10_000, async () =>
      extender!.state.node(NODE)?.failingList.join(",") === "7" ? true : undefined,
    );
    const n = await node();
    expect(n.metadata.annotations?.[Diagnostics.nodeHealth]).to.equal("healthy");
    expect(n.metadata.annotations?.[Diagnostics.failingDevices]).to.equal("7");
    expect((n.spec.taints ?? []).some((t) => t.key === Diagnostics.faultTaint)).to.equal(false);
    // Three pods above hold one GPU each; GPU 7 is out: four healthy GPUs remain. Five fit kube-scheduler's count of
    // eight allocatable, but not the extender's count of healthy ones; four do, and never get GPU 7.
    expect(extender!.state.node(NODE)?.healthyFree).to.equal(4);
    await api().create("/api/v1/namespaces/default/pods", pinnedPod("five", NODE, 5));
    const five = await waitFor("five refused", 30_000, async () => {
      const x = (await pod("five")).status.conditions?.find((x) => x.type === "PodScheduled");
      return x?.status === "False" ? x : undefined;
    });
    expect(five.message).to.match(/fewer than 5 free healthy GPUs/);
    await api().create("/api/v1/namespaces/default/pods", pinnedPod("four", NODE, 4));
    const four = await waitFor("four Running", 30_000, async () => {
      const p = await pod("four");
      return p.status.phase === "Running" ? p : undefined;
    });
    expect(four.metadata.annotations?.[Scheduling.assignedDevices]?.split(",").map(Number)).to.not.include(7);
  });
});
