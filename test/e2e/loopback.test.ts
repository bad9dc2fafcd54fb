// End to end on a real control plane (kube-apiserver, controller-manager, kube-scheduler ×2, kwok on 127.0.0.1) with
// our webhooks and extender serving it, and the Helm chart installed in development mode.
import { expect } from "chai";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { formatProblem, validate } from "../../api/index.js";
import { Diagnostics, Model, Scheduling } from "../../api/labels.js";
import { KubernetesDiscovery } from "../../router/discovery/kubernetes.js";
import { startRouter, type Router } from "../../router/server.js";
import { startSimulator, type RunningSimulator } from "../../simulator/index.js";
import { ApiError } from "../../cluster/api.js";
import { clusterStatus } from "../../cluster/index.js";
import { startControllers } from "../../controllers/index.js";
import {
  CHART,
  helmRun,
  kubectl,
  MUTATING_CONFIGURATION,
  RELEASE,
  startE2eEnv,
  SYSTEM_NAMESPACE,
  VALIDATING_CONFIGURATION,
  waitFor,
  type E2eEnv,
} from "./env.js";

type Meta = { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; uid?: string };
type Container = {
  name: string;
  resources?: { requests?: Record<string, string> };
  env?: { name: string; value?: string }[];
};
type Pod = {
  metadata: Meta;
  spec: { nodeName?: string; schedulerName?: string; containers: Container[] };
  status: {
    phase?: string;
    podIP?: string;
    hostIP?: string;
    conditions?: { type: string; status: string; message?: string }[];
  };
};
type List<T> = { items: T[] };

const FIXTURES = new URL("../fixtures/manifests/valid/", import.meta.url).pathname;

function gpuPod(name: string, gpus: number, labels: Record<string, string> = {}, schedulerName?: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels },
    spec: {
      ...(schedulerName ? { schedulerName } : {}),
      containers: [
        {
          name: "engine",
          image: "example.invalid/engine:1",
          resources: {
            requests: { [Scheduling.gpuResource]: String(gpus) },
            limits: { [Scheduling.gpuResource]: String(gpus) },
          },
        },
      ],
    },
  };
}

function modelDeployment(
  name: string,
  model: string,
  replicas: number,
  gpus: number,
  annotations = {},
  extraLabels: Record<string, string> = {},
) {
  const labels = { [Model.name]: model, app: name, ...extraLabels };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, labels, annotations },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: "vllm-openai",
              image: "vllm/vllm-openai:v0.8.5",
              resources: {
                requests: { [Scheduling.gpuResource]: String(gpus) },
                limits: { [Scheduling.gpuResource]: String(gpus) },
              },
            },
          ],
        },
      },
    },
  };
}

describe("e2e: loopback Kubernetes with our webhooks, extender and chart", function () {
  let env: E2eEnv | undefined;
  const e = () => env as E2eEnv;
  const api = () => e().cluster.api;

  async function podsOf(namespace: string, selector: string): Promise<Pod[]> {
    return (
      await api().get<List<Pod>>(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`)
    ).items;
  }

  async function waitRunning(namespace: string, selector: string, count: number, timeoutMs = 60_000): Promise<Pod[]> {
    return await waitFor(`${count} Running pods (${selector})`, timeoutMs, async () => {
      const pods = await podsOf(namespace, selector);
      const running = pods.filter((p) => p.status.phase === "Running");
      return running.length >= count ? running : undefined;
    });
  }

  before(async function () {
    this.timeout(60 * 60_000); // a cold machine builds the binaries first (progress on stderr)
    env = await startE2eEnv();
    await api().create("/api/v1/namespaces", { metadata: { name: "models" } });
  });

  after(async function () {
    this.timeout(60_000);
    await env?.stop();
  });

  describe("the control plane", () => {
    it("kube-apiserver is the pinned 1.34 release and the fake GPU fleet is Ready with capacity and product labels", async () => {
      const version = await api().get<{ gitVersion: string }>("/version");
      expect(version.gitVersion).to.equal("v1.34.4");
      const nodes = await api().get<
        List<{
          metadata: Meta;
          status: { allocatable: Record<string, string>; conditions: { type: string; status: string }[] };
        }>
      >("/api/v1/nodes");
      const gpus = new Map<string, number>();
      for (const n of nodes.items) {
        expect(n.status.conditions.find((c) => c.type === "Ready")?.status, n.metadata.name).to.equal("True");
        const product = n.metadata.labels?.[Scheduling.gpuProductLabel];
        if (product) gpus.set(product, (gpus.get(product) ?? 0) + Number(n.status.allocatable[Scheduling.gpuResource]));
      }
      expect(Object.fromEntries(gpus)).to.deep.equal({
        "NVIDIA-H100-80GB-HBM3": 16,
        "NVIDIA-A100-SXM4-80GB": 32,
        "NVIDIA-L4": 32,
        "NVIDIA-A10G": 4,
      });
    });

    it("the controller-manager turns a Deployment into available pods", async function () {
      this.timeout(60_000);
      await api().create("/apis/apps/v1/namespaces/default/deployments", {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "web" },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "example.invalid/web:1" }] },
          },
        },
      });
      const d = await waitFor("2 available replicas", 45_000, async () => {
        const got = await api().get<{ status: { availableReplicas?: number } }>(
          "/apis/apps/v1/namespaces/default/deployments/web",
        );
        return got.status.availableReplicas === 2 ? got : undefined;
      });
      expect(d.status.availableReplicas).to.equal(2);
    });

    it("the default scheduler places a GPU pod and kwok marks it Running with an IP from the pod range", async function () {
      this.timeout(60_000);
      await api().create("/api/v1/namespaces/default/pods", gpuPod("plain-gpu", 3, { app: "plain-gpu" }));
      const [pod] = await waitRunning("default", "app=plain-gpu", 1);
      expect(pod?.spec.nodeName).to.match(/^gpu-/);
      expect(pod?.spec.schedulerName).to.equal("default-scheduler");
      expect(pod?.status.podIP?.split(".").slice(0, 2).join(".")).to.equal(
        e().podCidr.split(".").slice(0, 2).join("."),
      );
      expect(pod?.status.hostIP).to.be.a("string");
      expect(pod?.status.conditions?.find((c) => c.type === "Ready")?.status).to.equal("True");
    });

    it("a pod asking for more GPUs than any node has stays Pending with the scheduler's reason", async function () {
      this.timeout(30_000);
      await api().create("/api/v1/namespaces/default/pods", gpuPod("too-big", 9));
      const cond = await waitFor("PodScheduled=False", 20_000, async () => {
        const p = await api().get<Pod>("/api/v1/namespaces/default/pods/too-big");
        return p.status.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
      });
      expect(cond.message).to.match(/Insufficient nvidia\.com\/gpu/);
    });

    it("status reports every process running and kube-apiserver ready", async () => {
      const status = await clusterStatus(e().cluster.state.stateDir);
      expect(status?.apiserverReady).to.equal(true);
      expect(status?.processes.map((p) => p.name)).to.include.members([
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "kube-scheduler-gpu",
      ]);
      for (const p of status?.processes ?? []) expect(p.running, p.name).to.equal(true);
    });
  });

  describe("the Helm chart", () => {
    it("installs: release deployed, its Deployments available, webhook configurations call 127.0.0.1 with our CA", async function () {
      this.timeout(60_000);
      const status = JSON.parse(await helmRun(e(), ["status", RELEASE, "-n", SYSTEM_NAMESPACE, "-o", "json"])) as {
        info: { status: string };
      };
      expect(status.info.status).to.equal("deployed");
      const deployments = await api().get<List<{ metadata: Meta; status: { availableReplicas?: number } }>>(
        `/apis/apps/v1/namespaces/${SYSTEM_NAMESPACE}/deployments`,
      );
      const names = deployments.items.map((d) => d.metadata.name).sort();
      // Development mode: webhooks and extender run on this machine, not in the cluster; controllers are off by default.
      expect(names).to.deep.equal(["aibrix-ts-gpu-scheduler", "aibrix-ts-router"]);
      for (const d of deployments.items) expect(d.status.availableReplicas, d.metadata.name).to.equal(2);
      const crds = await api().get<List<{ metadata: Meta }>>("/apis/apiextensions.k8s.io/v1/customresourcedefinitions");
      expect(crds.items.map((c) => c.metadata.name)).to.include.members([
        "modeladapters.model.aibrix.ai",
        "podautoscalers.autoscaling.aibrix.ai",
        "rayclusterfleets.orchestration.aibrix.ai",
        "kvcaches.orchestration.aibrix.ai",
      ]);
      const caBundle = Buffer.from(e().webhooks.caBundle).toString("base64");
      for (const [kind, name] of [
        ["mutatingwebhookconfigurations", MUTATING_CONFIGURATION],
        ["validatingwebhookconfigurations", VALIDATING_CONFIGURATION],
      ] as const) {
        const cfg = await api().get<{ webhooks: { clientConfig: { url: string; caBundle: string } }[] }>(
          `/apis/admissionregistration.k8s.io/v1/${kind}/${name}`,
        );
        for (const w of cfg.webhooks) {
          expect(w.clientConfig.url).to.match(new RegExp(`^${e().webhooks.url}/`));
          expect(w.clientConfig.caBundle).to.equal(caBundle);
        }
      }
    });
  });

  describe("the Helm chart, in-cluster rendering", () => {
    it("every object of the default (in-cluster) values passes kube-apiserver's server-side dry run", async function () {
      this.timeout(60_000);
      const rendered = await helmRun(e(), [
        "template",
        "incluster",
        CHART,
        "--namespace",
        SYSTEM_NAMESPACE,
        "--api-versions",
        "monitoring.coreos.com/v1",
      ]);
      // ServiceMonitors need the Prometheus Operator's CRD, which this cluster does not have.
      const docs = rendered.split(/^---$/m).filter((d) => /^kind: /m.test(d) && !/^kind: ServiceMonitor$/m.test(d));
      const file = join(e().cluster.state.stateDir, "incluster.yaml");
      writeFileSync(file, docs.join("\n---\n"));
      const out = await kubectl(e(), ["apply", "--dry-run=server", "-f", file]);
      const lines = out.trim().split("\n");
      expect(lines.length).to.equal(docs.length);
      for (const line of lines) expect(line).to.match(/ (created|configured|unchanged) \(server dry run\)$/);
      expect(out).to.include(
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/incluster-aibrix-ts-webhooks-mutating",
      );
      expect(out).to.include("clusterrole.rbac.authorization.k8s.io/incluster-aibrix-ts-extender");
    });
  });

  describe("admission through the real kube-apiserver", () => {
    it("a model Deployment with sidecar injection yields pods carrying the sidecar exactly once and the GPU scheduler", async function () {
      this.timeout(90_000);
      await api().create(
        "/apis/apps/v1/namespaces/models/deployments",
        modelDeployment("llama-chat", "llama-70b", 2, 2, { [Model.sidecarInjection]: "true" }),
      );
      const pods = await waitRunning("models", "app=llama-chat", 2);
      for (const pod of pods) {
        const names = pod.spec.containers.map((c) => c.name);
        expect(
          names.filter((n) => n === "aibrix-runtime"),
          pod.metadata.name,
        ).to.have.length(1);
        expect(names).to.include("vllm-openai");
        expect(pod.spec.schedulerName).to.equal(Scheduling.gpuSchedulerName);
        // Placed through the extender: never on a GPU type whose profile cannot meet the SLO.
        expect(pod.spec.nodeName).to.not.match(/^gpu-l4-/);
      }
      const metrics = await e().webhooks.metrics.registry.metrics();
      expect(metrics).to.match(/patched/);
    });

    it("engines of a Deployment labelled for a KVCache get the env that reaches what the kvcache controller made", async function () {
      this.timeout(120_000);
      const controllers = await startControllers({
        kubeconfig: e().cluster.kubeconfig,
        controllers: "kvcache",
        leaderElection: false,
        host: "127.0.0.1",
        port: 0,
        logLevel: "error",
      });
      try {
        await api().create("/apis/orchestration.aibrix.ai/v1alpha1/namespaces/models/kvcaches", {
          apiVersion: "orchestration.aibrix.ai/v1alpha1",
          kind: "KVCache",
          metadata: { name: "shared-kv", annotations: { "kvcache.orchestration.aibrix.ai/backend": "infinistore" } },
          spec: { cache: { replicas: 1 } },
        });
        await waitFor("shared-kv ready", 60_000, async () => {
          const kv = await api().get<{ status?: { current?: number } }>(
            "/apis/orchestration.aibrix.ai/v1alpha1/namespaces/models/kvcaches/shared-kv",
          );
          return (kv.status?.current ?? 0) >= 1 ? true : undefined;
        });
        await api().create(
          "/apis/apps/v1/namespaces/models/deployments",
          modelDeployment(
            "kv-engine",
            "llama-70b",
            1,
            1,
            {},
            { "kvcache.orchestration.aibrix.ai/kvcache-name": "shared-kv" },
          ),
        );
        const [pod] = await waitRunning("models", "app=kv-engine", 1);
        const env = new Map(
          (pod!.spec.containers.find((c) => c.name === "vllm-openai")?.env ?? []).map((v) => [v.name, v.value]),
        );
        expect(env.get("AIBRIX_KV_CACHE_OL_L2_CACHE_BACKEND")).to.equal("infinistore");
        expect(env.get("AIBRIX_KV_CACHE_OL_META_SERVICE_CLUSTER_META_KEY")).to.equal("kvcache_nodes");
        // The URL names a Service the controller created, on the port it serves.
        const url = new URL(env.get("AIBRIX_KV_CACHE_OL_META_SERVICE_URL") ?? "");
        expect(url.hostname).to.equal("shared-kv-redis.models.svc");
        const svc = await api().get<{ spec: { ports: { port: number }[] } }>(
          "/api/v1/namespaces/models/services/shared-kv-redis",
        );
        expect(svc.spec.ports.map((p) => p.port)).to.include(Number(url.port));
      } finally {
        await controllers.close();
      }
    });

    it("refuses invalid ModelAdapter, PodAutoscaler, RayClusterFleet and KVCache with our messages", async function () {
      this.timeout(30_000);
      const fixtures = readdirSync(FIXTURES)
        .filter((f) => f.endsWith(".yaml"))
        .flatMap((f) =>
          parseAllDocuments(readFileSync(FIXTURES + f, "utf8")).map((d) => d.toJS() as Record<string, unknown>),
        );
      const first = (kind: string) => structuredClone(fixtures.find((d) => d.kind === kind) as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
      const broken: { kind: string; plural: string; group: string; doc: Record<string, any> }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any

      const pa = first("PodAutoscaler");
      pa.metadata.name = "bad-pa";
      pa.spec.minReplicas = 20;
      pa.spec.maxReplicas = 2;
      broken.push({ kind: "PodAutoscaler", plural: "podautoscalers", group: "autoscaling.aibrix.ai", doc: pa });

      const ma = first("ModelAdapter");
      ma.metadata.name = "bad-adapter";
      ma.spec.artifactURL = "ftp://example.invalid/adapter";
      broken.push({ kind: "ModelAdapter", plural: "modeladapters", group: "model.aibrix.ai", doc: ma });

      const fleet = first("RayClusterFleet");
      fleet.metadata.name = "bad-fleet";
      fleet.spec.selector = { matchLabels: { app: "something-else" } };
      broken.push({
        kind: "RayClusterFleet",
        plural: "rayclusterfleets",
        group: "orchestration.aibrix.ai",
        doc: fleet,
      });

      const kv = first("KVCache");
      kv.metadata.name = "bad-kvcache";
      kv.metadata.annotations = {
        ...(kv.metadata.annotations ?? {}),
        "kvcache.orchestration.aibrix.ai/backend": "floppy",
      };
      broken.push({ kind: "KVCache", plural: "kvcaches", group: "orchestration.aibrix.ai", doc: kv });

      for (const b of broken) {
        const problems = validate(b.doc);
        expect(problems, `${b.kind} variant is invalid offline`).to.not.have.length(0);
        delete b.doc.metadata.namespace;
        const err = await api()
          .create(`/apis/${b.group}/v1alpha1/namespaces/models/${b.plural}`, b.doc)
          .then(
            () => undefined,
            (x: unknown) => x,
          );
        expect(err, `${b.kind} was stored`).to.be.instanceOf(ApiError);
        const message = (err as ApiError).apiMessage;
        // The API server relays our rule and the field it concerns.
        const named = problems.some((p) => message.includes(p.path) && message.includes(`"${p.rule}"`));
        expect(named, `${b.kind}: "${message}" vs ${problems.map(formatProblem).join("; ")}`).to.equal(true);
      }
    });

    it("stores every valid AIBrix-style manifest of the fixtures unchanged in meaning", async function () {
      this.timeout(60_000);
      const plural: Record<string, string> = {
        ModelAdapter: "modeladapters",
        PodAutoscaler: "podautoscalers",
        RayClusterFleet: "rayclusterfleets",
        RayClusterReplicaSet: "rayclusterreplicasets",
        KVCache: "kvcaches",
      };
      let stored = 0;
      for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith(".yaml"))) {
        for (const d of parseAllDocuments(readFileSync(FIXTURES + file, "utf8"))) {
          const doc = d.toJS() as { apiVersion: string; kind: string; metadata: Meta & { namespace?: string } };
          const resource = plural[doc.kind];
          if (!resource) continue;
          delete doc.metadata.namespace;
          const created = await api().create<{ metadata: Meta }>(
            `/apis/${doc.apiVersion}/namespaces/models/${resource}`,
            doc,
          );
          expect(created.metadata.uid).to.be.a("string");
          stored++;
        }
      }
      expect(stored).to.be.at.least(5);
    });
  });

  describe("placement through the real kube-scheduler and our extender", () => {
    async function deviceMap(): Promise<Map<string, number[][]>> {
      const pods = await api().get<List<Pod>>("/api/v1/pods");
      const byNode = new Map<string, number[][]>();
      for (const p of pods.items) {
        const devices = p.metadata.annotations?.[Scheduling.assignedDevices];
        if (!p.spec.nodeName || devices === undefined) continue;
        const list = byNode.get(p.spec.nodeName) ?? [];
        list.push(devices.split(",").map(Number));
        byNode.set(p.spec.nodeName, list);
      }
      return byNode;
    }

    it("model pods never land on L4 (SLO-infeasible) and go where the extender prefers (A100, cheapest per token)", async function () {
      this.timeout(90_000);
      await api().create(
        "/apis/apps/v1/namespaces/models/deployments",
        modelDeployment("llama-batch", "llama-70b", 4, 2),
      );
      const pods = await waitRunning("models", "app=llama-batch", 4);
      for (const p of pods) {
        expect(p.spec.schedulerName).to.equal(Scheduling.gpuSchedulerName);
        expect(p.spec.nodeName, p.metadata.name).to.match(/^gpu-a100-/);
        expect(p.metadata.annotations?.[Scheduling.assignedDevices], "device pin").to.match(/^\d+,\d+$/);
      }
    });

    it("a node marked unhealthy by diagnostics receives no new pods", async function () {
      this.timeout(90_000);
      const unhealthy = ["gpu-a100-0", "gpu-a100-1", "gpu-a100-2"];
      for (const node of unhealthy) {
        await api().mergePatch(`/api/v1/nodes/${node}`, {
          metadata: {
            annotations: {
              [Diagnostics.nodeHealth]: "unhealthy",
              [Diagnostics.reason]: "XID 79: GPU fell off the bus",
              [Diagnostics.lastReport]: new Date().toISOString(),
            },
          },
        });
      }
      await waitFor("extender sees the unhealthy nodes", 10_000, async () =>
        unhealthy.every((n) => e().extender.state.node(n)?.health === "unhealthy") ? true : undefined,
      );
      await api().create(
        "/apis/apps/v1/namespaces/models/deployments",
        modelDeployment("llama-after", "llama-70b", 6, 2),
      );
      const pods = await waitRunning("models", "app=llama-after", 6);
      for (const p of pods) expect(unhealthy, p.metadata.name).to.not.include(p.spec.nodeName);
      for (const p of pods) expect(p.spec.nodeName).to.match(/^gpu-(a100-3|h100-)/);
    });

    it("concurrent binds never double-book a GPU: each device on a node has at most one pod", async function () {
      this.timeout(120_000);
      // 24 single-GPU pods at once, more than the healthy nodes have left: the extender holds devices per bind, so
      // whatever lands never shares a device index, and the rest wait Pending.
      await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          api().create(
            "/api/v1/namespaces/models/pods",
            gpuPod(`burst-${i}`, 1, { [Model.name]: "llama-70b", burst: "yes" }, Scheduling.gpuSchedulerName),
          ),
        ),
      );
      const settled = await waitFor("burst pods placed or refused", 60_000, async () => {
        const pods = await podsOf("models", "burst=yes");
        const done = pods.filter(
          (p) =>
            p.status.phase === "Running" ||
            p.status.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False"),
        );
        return done.length === 24 ? pods : undefined;
      });
      const running = settled.filter((p) => p.status.phase === "Running");
      expect(running.length, "burst pods placed").to.be.at.least(1);
      for (const p of running) {
        expect(p.metadata.annotations?.[Scheduling.assignedDevices], p.metadata.name).to.match(/^\d+$/);
        expect(p.spec.nodeName).to.match(/^gpu-(a100-3|h100-)/);
      }
      const byNode = await deviceMap();
      for (const [node, lists] of byNode) {
        const all = lists.flat();
        expect(new Set(all).size, `${node}: ${JSON.stringify(lists)}`).to.equal(all.length);
        const capacity = node.startsWith("gpu-l4") ? 4 : node.startsWith("gpu-a10g") ? 1 : 8;
        for (const d of all) expect(d, node).to.be.within(0, capacity - 1);
      }
    });
  });

  describe("the router against real pods with loopback IPs", () => {
    const simulators = new Map<string, RunningSimulator>();
    let router: Router | undefined;

    after(async () => {
      await router?.close();
      await Promise.all([...simulators.values()].map((s) => s.close()));
    });

    async function ask(r: Router): Promise<number> {
      const res = await fetch(`${r.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hello" }], max_tokens: 4 }),
      });
      await res.arrayBuffer();
      return res.status;
    }

    it("discovers kwok pods by their loopback IPs and proxies to the engine listening on each", async function () {
      this.timeout(90_000);
      await api().create("/api/v1/namespaces", { metadata: { name: "serving" } });
      await api().create("/apis/apps/v1/namespaces/serving/deployments", {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "tiny", labels: { [Model.name]: "tiny" } },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: "tiny" } },
          template: {
            metadata: { labels: { app: "tiny", [Model.name]: "tiny", [Model.port]: "8000" } },
            spec: { containers: [{ name: "vllm-openai", image: "vllm/vllm-openai:v0.8.5" }] },
          },
        },
      });
      const pods = await waitRunning("serving", "app=tiny", 3);
      for (const p of pods) {
        const ip = p.status.podIP as string;
        expect(ip.startsWith(e().podCidr.split(".").slice(0, 2).join(".") + ".")).to.equal(true);
        simulators.set(p.metadata.name, await startSimulator({ host: ip, port: 8000, model: "tiny", speedup: 50 }));
      }
      router = await startRouter({
        host: "127.0.0.1",
        port: 0,
        discovery: new KubernetesDiscovery({ kubeconfig: e().cluster.kubeconfig, namespace: "serving" }),
        logLevel: "error",
      });
      const r = router;
      const ids = await waitFor("3 endpoints discovered", 20_000, async () => {
        const got = r.registry.serving("tiny").map((ep) => ep.id);
        return got.length === 3 ? got : undefined;
      });
      expect(ids.sort()).to.deep.equal(pods.map((p) => `${p.status.podIP}:8000`).sort());
      const statuses = await Promise.all(Array.from({ length: 12 }, () => ask(r)));
      expect(statuses).to.deep.equal(Array(12).fill(200));
      let served = 0;
      for (const sim of simulators.values()) {
        const m = /^vllm:generation_tokens_total\{[^}]*\} (\S+)$/m.exec(await sim.metricsText());
        if (Number(m?.[1] ?? 0) > 0) served++;
      }
      expect(served, "simulators that answered").to.be.at.least(2);
    });

    it("follows the Deployment: a scaled-away pod leaves the routing set and requests keep succeeding", async function () {
      this.timeout(60_000);
      const r = router as Router;
      await api().mergePatch("/apis/apps/v1/namespaces/serving/deployments/tiny", { spec: { replicas: 1 } });
      const remaining = await waitFor("1 pod left", 30_000, async () => {
        const pods = await podsOf("serving", "app=tiny");
        return pods.length === 1 ? pods : undefined;
      });
      const id = `${remaining[0]?.status.podIP}:8000`;
      await waitFor("router down to 1 endpoint", 20_000, async () => {
        const got = r.registry.serving("tiny").map((ep) => ep.id);
        return got.length === 1 && got[0] === id ? true : undefined;
      });
      const statuses = await Promise.all(Array.from({ length: 6 }, () => ask(r)));
      expect(statuses).to.deep.equal(Array(6).fill(200));
    });
  });

  describe("the KubeRay operator on the loopback cluster", () => {
    it("a RayCluster gets its head and GPU workers from ray-operator, kwok runs them, and it reports ready", async function () {
      this.timeout(90_000);
      const image = "rayproject/ray:2.46.0";
      await api().create("/apis/ray.io/v1/namespaces/models/rayclusters", {
        apiVersion: "ray.io/v1",
        kind: "RayCluster",
        metadata: { name: "ray-llm" },
        spec: {
          rayVersion: "2.46.0",
          headGroupSpec: { rayStartParams: {}, template: { spec: { containers: [{ name: "ray-head", image }] } } },
          workerGroupSpecs: [
            {
              groupName: "gpu",
              replicas: 2,
              minReplicas: 0,
              maxReplicas: 4,
              rayStartParams: {},
              template: {
                spec: {
                  containers: [
                    {
                      name: "ray-worker",
                      image,
                      resources: {
                        requests: { [Scheduling.gpuResource]: "1" },
                        limits: { [Scheduling.gpuResource]: "1" },
                      },
                    },
                  ],
                },
              },
            },
          ],
        },
      });
      const pods = await waitRunning("models", "ray.io/cluster=ray-llm", 3);
      expect(pods.map((p) => p.metadata.labels?.["ray.io/node-type"]).sort()).to.deep.equal([
        "head",
        "worker",
        "worker",
      ]);
      const rc = await waitFor("RayCluster ready", 60_000, async () => {
        const got = await api().get<{ status?: { state?: string; readyWorkerReplicas?: number } }>(
          "/apis/ray.io/v1/namespaces/models/rayclusters/ray-llm",
        );
        return got.status?.state === "ready" ? got : undefined;
      });
      expect(rc.status?.readyWorkerReplicas).to.equal(2);
    });
  });

  describe("kubectl on our resources", () => {
    it("kubectl get shows the CRDs' printer columns", async function () {
      this.timeout(30_000);
      const out = await kubectl(e(), ["get", "podautoscalers.autoscaling.aibrix.ai", "-n", "models"]);
      const header = out.split("\n")[0] ?? "";
      const crd = await api().get<{
        spec: { versions: { additionalPrinterColumns?: { name: string }[] }[] };
      }>("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/podautoscalers.autoscaling.aibrix.ai");
      const columns = crd.spec.versions[0]?.additionalPrinterColumns?.map((c) => c.name.toUpperCase()) ?? [];
      expect(columns.length).to.be.at.least(2);
      for (const col of columns) expect(header.replace(/\s+/g, " ")).to.include(col);
      expect(out).to.include("llama-kpa");
    });
  });
});
