// The fleet controllers on the real control plane with the real KubeRay operator: `aibrix-ts controllers` acting as
// the chart's ServiceAccount, KubeRay turning RayClusters into head and worker pods, kwok running them, and the
// kube-controller-manager's garbage collector cascading deletes. The fleet is AIBrix's own sample shape. A
// PodAutoscaler, as AIBrix's heterogeneous samples write one (an external endpoint answering
// `vllm:deployment_replicas`), scales a fleet through its /scale subresource.
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { startCluster, type LoopbackCluster } from "../../cluster/index.js";
import { isReady, type RayCluster } from "../../controllers/fleet/objects.js";
import { installCrds } from "../../cluster/crds.js";
import { chartControllersKubeconfig, SYSTEM_NAMESPACE as SYSTEM } from "../support/controllers-cluster.js";
import { startControllersProcess } from "../support/controllers-process.js";
import { waitFor } from "./env.js";

const run = promisify(execFile);
const NS = "fleets";
const MODEL = "facebook-opt-13b";

type Condition = { type: string; status: string; reason?: string; message?: string };
type Fleet = {
  metadata: { name: string; generation?: number; annotations?: Record<string, string> };
  spec: { replicas: number; paused?: boolean; template: { spec: { headGroupSpec: unknown } } };
  status?: {
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    observedGeneration?: number;
    scalingTargetSelector?: string;
    conditions?: Condition[];
  };
};
type ReplicaSet = {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { replicas: number };
  status?: { availableReplicas?: number };
};
type Pod = { metadata: { name: string; labels?: Record<string, string> }; status: { phase?: string } };

/** AIBrix's distributed-inference sample: vLLM in the head container, one GPU worker, the model label throughout. */
function fleetManifest(name: string, image: string, extra: Record<string, unknown> = {}) {
  const container = (role: string) => ({
    name: `ray-${role}`,
    image,
    command: ["/bin/bash", "-lc", "--"],
    args: [`ulimit -n 65536; echo ${role}; $KUBERAY_GEN_RAY_START_CMD; vllm serve facebook/opt-13b --port 8000`],
    ports: role === "head" ? [{ containerPort: 8000, name: "service" }] : [],
    resources: { requests: { cpu: "1", "nvidia.com/gpu": "1" }, limits: { cpu: "1", "nvidia.com/gpu": "1" } },
  });
  const labels = { "model.aibrix.ai/name": name };
  return {
    apiVersion: "orchestration.aibrix.ai/v1alpha1",
    kind: "RayClusterFleet",
    metadata: { name, namespace: NS, labels: { "app.kubernetes.io/name": "aibrix", ...labels } },
    spec: {
      replicas: 3,
      selector: { matchLabels: labels },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels, annotations: { "ray.io/overwrite-container-cmd": "true" } },
        spec: {
          rayVersion: "2.10.0",
          headGroupSpec: {
            rayStartParams: { "dashboard-host": "0.0.0.0" },
            template: { metadata: { labels }, spec: { containers: [container("head")] } },
          },
          workerGroupSpecs: [
            {
              groupName: "small-group",
              replicas: 1,
              minReplicas: 1,
              maxReplicas: 1,
              rayStartParams: {},
              template: { metadata: { labels }, spec: { containers: [container("worker")] } },
            },
          ],
        },
      },
      ...extra,
    },
  };
}

describe("RayClusterFleet controllers with KubeRay on the loopback cluster", function () {
  let cluster: LoopbackCluster;
  let controllers: ChildProcess | undefined;
  const api = () => cluster.api;
  const fleetPath = (name = "") =>
    `/apis/orchestration.aibrix.ai/v1alpha1/namespaces/${NS}/rayclusterfleets${name ? `/${name}` : ""}`;
  const getFleet = (name: string) => api().get<Fleet>(fleetPath(name));
  const patchFleet = (name: string, body: unknown) => api().mergePatch(fleetPath(name), body);
  const clustersOf = async (model: string) =>
    (
      await api().get<{ items: RayCluster[] }>(
        `/apis/ray.io/v1/namespaces/${NS}/rayclusters?labelSelector=${encodeURIComponent(`model.aibrix.ai/name=${model}`)}`,
      )
    ).items;
  const replicaSets = async () =>
    (
      await api().get<{ items: ReplicaSet[] }>(
        `/apis/orchestration.aibrix.ai/v1alpha1/namespaces/${NS}/rayclusterreplicasets`,
      )
    ).items;
  const podsOf = async (model: string) =>
    (
      await api().get<{ items: Pod[] }>(
        `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(`model.aibrix.ai/name=${model}`)}`,
      )
    ).items;
  const kubectl = async (...args: string[]) =>
    (await run(join(cluster.state.binDir, "kubectl"), ["--kubeconfig", cluster.kubeconfig, ...args])).stdout;
  const condition = (f: Fleet, type: string) => f.status?.conditions?.find((c) => c.type === type);
  /** Waits until the fleet's current template runs `replicas` available clusters and nothing else. */
  const waitComplete = (name: string, replicas: number, timeoutMs = 60_000) =>
    waitFor(`${name} complete with ${replicas} clusters`, timeoutMs, async () => {
      const f = await getFleet(name);
      const s = f.status ?? {};
      // A status of this generation: the one before may still say "complete".
      const done =
        (s.observedGeneration ?? 0) >= (f.metadata.generation ?? 1) &&
        s.replicas === replicas &&
        s.updatedReplicas === replicas &&
        s.availableReplicas === replicas &&
        condition(f, "Progressing")?.reason === "NewReplicaSetAvailable";
      return done ? f : undefined;
    });

  /** Polls RayClusters as KubeRay reports them while `during` runs: the fewest ready and the most alive seen. */
  async function watchClusters(model: string, during: () => Promise<void>) {
    let minReady = Infinity;
    let maxAlive = 0;
    let stop = false;
    const poller = (async () => {
      while (!stop) {
        const alive = (await clustersOf(model)).filter((c) => !c.metadata?.deletionTimestamp);
        minReady = Math.min(minReady, alive.filter(isReady).length);
        maxAlive = Math.max(maxAlive, alive.length);
        await sleep(150);
      }
    })();
    try {
      await during();
    } finally {
      stop = true;
      await poller;
    }
    return { minReady, maxAlive };
  }

  before(async function () {
    this.timeout(60 * 60_000);
    cluster = await startCluster({
      log: process.env.AIBRIX_TS_E2E_LOG ? (l) => console.error(`[cluster] ${l}`) : undefined,
      nodes: [{ name: "gpu-a100", count: 3, gpusPerNode: 8, product: "NVIDIA-A100-SXM4-80GB" }],
      kuberay: true,
    });
    for (const ns of [NS, SYSTEM]) await api().create("/api/v1/namespaces", { metadata: { name: ns } });
    await installCrds(api());
    const kubeconfig = await chartControllersKubeconfig(cluster);
    controllers = (
      await startControllersProcess(kubeconfig, [
        "--no-leader-elect",
        ...["--controllers", "raycluster-fleet,raycluster-replicaset,pod-autoscaler"],
        ...["--pod-autoscaler-sync-period", "1"],
      ])
    ).child;
  });

  after(async function () {
    this.timeout(60_000);
    controllers?.kill("SIGKILL");
    await cluster?.stop();
  });

  it("a fleet of 3 becomes 3 RayClusters whose head and worker pods run, and reads like a Deployment", async function () {
    this.timeout(90_000);
    await api().create(fleetPath(), fleetManifest(MODEL, "vllm/vllm-openai:v0.7.1"));
    const fleet = await waitComplete(MODEL, 3);
    expect(fleet.status).to.include({ readyReplicas: 3, scalingTargetSelector: `model.aibrix.ai/name=${MODEL}` });
    expect(condition(fleet, "Available")).to.include({ status: "True", reason: "MinimumReplicasAvailable" });
    const clusters = await clustersOf(MODEL);
    expect(clusters).to.have.length(3);
    for (const c of clusters) expect(isReady(c), c.metadata?.name).to.equal(true);
    const pods = await podsOf(MODEL);
    const running = pods.filter((p) => p.status.phase === "Running");
    expect(running.map((p) => p.metadata.labels?.["ray.io/node-type"]).sort()).to.deep.equal([
      "head",
      "head",
      "head",
      "worker",
      "worker",
      "worker",
    ]);
    const [rs] = await replicaSets();
    expect(rs?.metadata.annotations?.["deployment.kubernetes.io/revision"]).to.equal("1");
    const table = await kubectl("get", "rayclusterfleets", "-n", NS);
    expect(table.split("\n")[0]!.split(/\s+/)).to.include.members([
      "NAME",
      "DESIRED",
      "READY",
      "UP-TO-DATE",
      "AVAILABLE",
      "AGE",
    ]);
  });

  it("rolls a new template out (maxSurge 1, maxUnavailable 0) without dropping below 3 ready; pause holds, resume finishes", async function () {
    this.timeout(150_000);
    // Revision 2's head may only run on nodes labelled with GATE, which none is until the test opens it: the rollout
    // stops at its first step (one new cluster surged, not ready), so the pause lands mid-rollout on any machine.
    const GATE = "aibrix.ai/rollout-gate";
    const headGroupSpec = fleetManifest(MODEL, "vllm/vllm-openai:v0.8.0").spec.template.spec.headGroupSpec;
    (headGroupSpec.template.spec as Record<string, unknown>).nodeSelector = { [GATE]: "open" };
    const openGate = async () => {
      const nodes = await api().get<{ items: { metadata: { name: string } }[] }>("/api/v1/nodes");
      for (const n of nodes.items) {
        await api().mergePatch(`/api/v1/nodes/${n.metadata.name}`, { metadata: { labels: { [GATE]: "open" } } });
      }
    };
    const revision = (sets: ReplicaSet[], r: string) =>
      sets.find((s) => s.metadata.annotations?.["deployment.kubernetes.io/revision"] === r);
    const seen = await watchClusters(MODEL, async () => {
      await patchFleet(MODEL, { spec: { template: { spec: { headGroupSpec } } } });
      await waitFor("revision 2's first cluster surged", 30_000, async () =>
        (revision(await replicaSets(), "2")?.spec.replicas ?? 0) >= 1 ? true : undefined,
      );
      await patchFleet(MODEL, { spec: { paused: true } });
      try {
        await waitFor("Progressing DeploymentPaused", 10_000, async () =>
          condition(await getFleet(MODEL), "Progressing")?.reason === "DeploymentPaused" ? true : undefined,
        );
        const held = async () => (await replicaSets()).map((s) => `${s.metadata.name}=${s.spec.replicas}`).sort();
        const before = await held();
        expect(before.map((s) => s.split("=")[1]).sort(), "paused mid-rollout: 3 old, 1 new").to.deep.equal(["1", "3"]);
        await openGate(); // the new cluster could become ready now: a paused fleet still must not roll on
        await sleep(4_000);
        expect(await held(), "a paused fleet holds its replica sets").to.deep.equal(before);
      } finally {
        await openGate();
        await patchFleet(MODEL, { spec: { paused: false } });
      }
      await waitComplete(MODEL, 3, 90_000);
    });
    expect(seen.minReady, "ready RayClusters during the rollout").to.be.at.least(3);
    expect(seen.maxAlive, "RayClusters during the rollout").to.be.at.most(4);
    const sets = await replicaSets();
    expect(
      sets.map((s) => [s.metadata.annotations?.["deployment.kubernetes.io/revision"], s.spec.replicas]).sort(),
    ).to.deep.equal([
      ["1", 0],
      ["2", 3],
    ]);
  });

  it("rolls back to the previous revision", async function () {
    this.timeout(120_000);
    await patchFleet(MODEL, { metadata: { annotations: { "deprecated.deployment.rollback.to": "0" } } });
    // Revision 2 changed only the head (its image and a node selector): the workers' v0.7.1 is in both templates,
    // v0.8.0 only in revision 2.
    await waitFor("rollback applied: annotation gone, head back at v0.7.1", 10_000, async () => {
      const f = await getFleet(MODEL);
      const rolledBack =
        f.metadata.annotations?.["deprecated.deployment.rollback.to"] === undefined &&
        !JSON.stringify(f.spec.template).includes("v0.8.0");
      return rolledBack ? true : undefined;
    });
    await waitComplete(MODEL, 3, 90_000);
    const current = (await replicaSets()).find((s) => s.spec.replicas === 3)!;
    expect(current.metadata.annotations).to.include({
      "deployment.kubernetes.io/revision": "3",
      "deployment.kubernetes.io/revision-history": "1",
    });
    const annotations = (await getFleet(MODEL)).metadata.annotations ?? {};
    expect(annotations["deprecated.deployment.rollback.to"]).to.equal(undefined);
    expect(annotations["deployment.kubernetes.io/revision"]).to.equal("3");
  });

  it("kubectl scale goes through /scale: to 5 and back to 3", async function () {
    this.timeout(90_000);
    await kubectl("scale", "rayclusterfleet", MODEL, "-n", NS, "--replicas=5");
    await waitComplete(MODEL, 5);
    const scale = await api().get<{ spec: { replicas: number }; status: { replicas: number; selector: string } }>(
      `${fleetPath(MODEL)}/scale`,
    );
    expect(scale.spec.replicas).to.equal(5);
    expect(scale.status).to.deep.equal({ replicas: 5, selector: `model.aibrix.ai/name=${MODEL}` });
    await kubectl("scale", "rayclusterfleet", MODEL, "-n", NS, "--replicas=3");
    await waitComplete(MODEL, 3);
    await waitFor("3 RayClusters left", 30_000, async () =>
      (await clustersOf(MODEL)).filter((c) => !c.metadata?.deletionTimestamp).length === 3 ? true : undefined,
    );
  });

  it("a PodAutoscaler on the fleet scales it through /scale", async function () {
    this.timeout(120_000);
    // The GPU optimizer's answer for this fleet: 4 replicas, as replicas × 100.
    const endpoint = http.createServer((_req, res) => res.end("vllm:deployment_replicas 400\n"));
    await new Promise<void>((resolve) => endpoint.listen(0, "127.0.0.1", resolve));
    const paPath = `/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/${NS}/podautoscalers`;
    try {
      await api().create(paPath, {
        apiVersion: "autoscaling.aibrix.ai/v1alpha1",
        kind: "PodAutoscaler",
        metadata: { name: "fleet-pa", namespace: NS },
        spec: {
          scaleTargetRef: { apiVersion: "orchestration.aibrix.ai/v1alpha1", kind: "RayClusterFleet", name: MODEL },
          minReplicas: 1,
          maxReplicas: 5,
          scalingStrategy: "KPA",
          metricsSources: [
            {
              metricSourceType: "external",
              protocolType: "http",
              endpoint: `127.0.0.1:${(endpoint.address() as AddressInfo).port}`,
              path: "/metrics",
              targetMetric: "vllm:deployment_replicas",
              targetValue: "100",
            },
          ],
        },
      });
      await waitComplete(MODEL, 4, 90_000);
      const pa = await api().get<{ status?: { desiredScale?: number; actualScale?: number } }>(`${paPath}/fleet-pa`);
      expect(pa.status?.desiredScale).to.equal(4);
    } finally {
      await api().delete(`${paPath}/fleet-pa`);
      endpoint.close();
    }
    await kubectl("scale", "rayclusterfleet", MODEL, "-n", NS, "--replicas=3");
    await waitComplete(MODEL, 3);
  });

  it("a RayCluster that never becomes ready trips the progress deadline", async function () {
    this.timeout(60_000);
    const stuck = fleetManifest("never-ready", "vllm/vllm-openai:v0.7.1", { replicas: 1, progressDeadlineSeconds: 5 });
    const head = stuck.spec.template.spec.headGroupSpec.template.spec as Record<string, unknown>;
    head.nodeSelector = { "aibrix.ai/no-such-node": "true" };
    await api().create(fleetPath(), stuck);
    const fleet = await waitFor("ProgressDeadlineExceeded", 40_000, async () => {
      const f = await getFleet("never-ready");
      return condition(f, "Progressing")?.reason === "ProgressDeadlineExceeded" ? f : undefined;
    });
    expect(condition(fleet, "Progressing")).to.include({ status: "False" });
    expect(condition(fleet, "Progressing")?.message).to.match(/has timed out progressing/);
    expect(condition(fleet, "Available")).to.include({ status: "False", reason: "MinimumReplicasUnavailable" });
    await kubectl("delete", "rayclusterfleet", "never-ready", "-n", NS, "--wait=false");
  });

  it("deleting the fleet removes its replica sets, RayClusters and pods (garbage collector)", async function () {
    this.timeout(90_000);
    await kubectl("delete", "rayclusterfleet", MODEL, "-n", NS, "--wait=false");
    await waitFor("every RayCluster and pod gone", 80_000, async () => {
      const [clusters, pods, sets] = await Promise.all([clustersOf(MODEL), podsOf(MODEL), replicaSets()]);
      return clusters.length + pods.length + sets.length === 0 ? true : undefined;
    });
  });
});
