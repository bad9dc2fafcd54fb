// The PodAutoscaler controller on the real control plane: `aibrix-ts controllers` as the chart's ServiceAccount,
// a Deployment of engine-backed (simulated vLLM) pods, load through the router. KPA on the engines' queue length
// with short windows (set by the spec and annotations) so each phase takes seconds, and the HPA strategy handed to
// the real kube-controller-manager.
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { startEnginePods, type EnginePods } from "../../cluster/engine-pods.js";
import type { LoopbackCluster } from "../../cluster/index.js";
import { KubernetesDiscovery } from "../../router/discovery/kubernetes.js";
import { startRouter, type Router } from "../../router/server.js";
import { startControllersCluster } from "../support/controllers-cluster.js";
import { startControllersProcess } from "../support/controllers-process.js";
import { waitFor, waitForEvent } from "./env.js";

const NS = "serving";
const MODEL = "llama-3-8b";
const DOWN_WINDOW_S = 15;

type Condition = { type: string; status: string; reason: string; message: string };
type PodAutoscalerView = {
  status?: {
    desiredScale?: number;
    actualScale?: number;
    conditions?: Condition[];
    scalingHistory?: { newScale: number; reason: string }[];
  };
};

function engineDeployment(name: string, replicas: number) {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, "model.aibrix.ai/name": MODEL } },
        spec: {
          containers: [
            {
              name: "vllm-openai",
              image: "vllm/vllm-openai:v0.10.1",
              // Two sequences at a time: a dozen clients make a queue a KPA on num_requests_waiting sees.
              command: ["vllm", "serve"],
              args: ["/models/llama", "--served-model-name", MODEL, "--max-num-seqs", "2"],
              resources: { requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": "1" } },
            },
          ],
        },
      },
    },
  };
}

/** Pods that are no engine (the engine launcher ignores them): CPU requests for an HPA's Utilization target. */
function plainDeployment(name: string) {
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image: "nginx", resources: { requests: { cpu: "100m" } } }] },
      },
    },
  };
}

function podAutoscaler(name: string, target: string, strategy: "KPA" | "HPA", annotations: Record<string, string>) {
  return {
    apiVersion: "autoscaling.aibrix.ai/v1alpha1",
    kind: "PodAutoscaler",
    metadata: { name, namespace: NS, annotations },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: target },
      minReplicas: 1,
      maxReplicas: 4,
      scalingStrategy: strategy,
      observeWindowSeconds: 10,
      panicWindowSeconds: 4,
      metricsSources: [
        {
          metricSourceType: "pod",
          protocolType: "http",
          port: "8000",
          path: "/metrics",
          targetMetric: "vllm:num_requests_waiting",
          targetValue: "2",
        },
      ],
    },
  };
}

describe("PodAutoscaler controller on the loopback cluster", function () {
  let cluster: LoopbackCluster;
  let engines: EnginePods;
  let router: Router;
  let controllers: ChildProcess | undefined;
  let load: AbortController | undefined;
  const api = () => cluster.api;
  const paPath = (name = "") =>
    `/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/${NS}/podautoscalers${name ? `/${name}` : ""}`;
  const replicasOf = async (deployment: string) =>
    (await api().get<{ spec: { replicas: number } }>(`/apis/apps/v1/namespaces/${NS}/deployments/${deployment}`)).spec
      .replicas;

  /** `clients` loops of chat completions through the router until aborted. */
  function startLoad(clients: number): AbortController {
    const stop = new AbortController();
    for (let i = 0; i < clients; i++) {
      void (async () => {
        while (!stop.signal.aborted) {
          await fetch(`${router.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              model: MODEL,
              messages: [{ role: "user", content: `question ${i}` }],
              max_tokens: 200,
              ignore_eos: true,
            }),
            signal: stop.signal,
          })
            .then((r) => r.arrayBuffer())
            .catch(() => sleep(100));
        }
      })();
    }
    return stop;
  }

  /** What a failed wait should say: the PodAutoscaler's view, the engines' queues, one request's answer. */
  async function diagnose(): Promise<string> {
    const pa = await api()
      .get<PodAutoscalerView>(paPath("llama-kpa"))
      .catch((e: Error) => ({ error: e.message }));
    const queues = await Promise.all(
      [...engines.engines.values()].map(async (e) => {
        const text = await fetch(`${e.url}/metrics`, { signal: AbortSignal.timeout(1_000) })
          .then((r) => r.text())
          .catch((err: Error) => err.message);
        return `${e.podKey} ${e.state}: ${/^vllm:num_requests_(waiting|running).*$/m.exec(text)?.[0] ?? text.slice(0, 200)}`;
      }),
    );
    const probe = await fetch(`${router.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "probe" }], max_tokens: 2 }),
      signal: AbortSignal.timeout(5_000),
    })
      .then(async (r) => `${r.status} ${(await r.text()).slice(0, 200)}`)
      .catch((err: Error) => err.message);
    return JSON.stringify({ pa, queues, probe }, null, 1);
  }

  async function waitOrExplain<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
    try {
      return await waitFor(what, ms, probe);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await diagnose()}`, { cause: err });
    }
  }

  before(async function () {
    this.timeout(10 * 60_000);
    let kubeconfig: string;
    ({ cluster, kubeconfig } = await startControllersCluster({
      namespaces: [NS],
      nodes: [{ name: "gpu-a100", count: 2, gpusPerNode: 8, product: "NVIDIA-A100-SXM4-80GB" }],
    }));
    engines = await startEnginePods({ kubeconfig: cluster.kubeconfig, namespace: NS });
    await api().create(`/apis/apps/v1/namespaces/${NS}/deployments`, engineDeployment("llama", 1));
    await engines.waitForEngines(1, { timeoutMs: 60_000 });
    router = await startRouter({
      host: "127.0.0.1",
      port: 0,
      discovery: new KubernetesDiscovery({ kubeconfig: cluster.kubeconfig, namespace: NS }),
      logLevel: "error",
    });
    const flags = ["--no-leader-elect", "--controllers", "pod-autoscaler", "--pod-autoscaler-sync-period", "2"];
    controllers = (await startControllersProcess(kubeconfig, [...flags, "--pod-autoscaler-warm-up", "0"])).child;
  });

  after(async function () {
    this.timeout(60_000);
    load?.abort();
    controllers?.kill("SIGKILL");
    await router?.close();
    await engines?.stop();
    await cluster?.stop();
  });

  it("KPA: load through the router raises replicas within a few ticks, with an Event and history", async function () {
    this.timeout(120_000);
    const windows = { "autoscaling.aibrix.ai/scale-down-cooldown-window": `${DOWN_WINDOW_S}s` };
    await api().create(paPath(), podAutoscaler("llama-kpa", "llama", "KPA", windows));
    await waitFor("ValidSpec and ScalingActive", 20_000, async () => {
      const c = (await api().get<PodAutoscalerView>(paPath("llama-kpa"))).status?.conditions ?? [];
      return c.some((x) => x.type === "ScalingActive" && x.status === "True") ? true : undefined;
    });
    expect(await replicasOf("llama")).to.equal(1);
    load = startLoad(12);
    const started = Date.now();
    await waitOrExplain("replicas above 1", 30_000, async () => ((await replicasOf("llama")) > 1 ? true : undefined));
    // The panic window is 4 s and a tick 2 s: a queue of ~10 on one pod is seen within a few ticks.
    expect(Date.now() - started).to.be.below(20_000);
    const pa = await waitFor("status to show the scale", 10_000, async () => {
      const x = await api().get<PodAutoscalerView>(paPath("llama-kpa"));
      return (x.status?.scalingHistory?.length ?? 0) > 0 ? x : undefined;
    });
    expect(pa.status?.scalingHistory?.[0]?.newScale).to.be.greaterThan(1);
    await waitForEvent(api(), NS, "llama-kpa", "SuccessfulRescale");
    await waitFor("the new engines serving", 60_000, async () =>
      [...engines.engines.values()].filter((e) => e.state === "running").length >= 2 ? true : undefined,
    );
  });

  it("KPA: engines that stop answering metrics cause no scale-down", async function () {
    this.timeout(180_000);
    // The load's scale-up runs to its end first (every replica's engine serving, replicas unchanged for three ticks):
    // pods still starting count towards the growth limit, and one that came up after the engines were stopped would
    // bring an engine that answers.
    let seen = -1;
    let since = Date.now();
    const held = await waitFor("the scale-up to settle with every engine serving", 90_000, async () => {
      const replicas = await replicasOf("llama");
      if (replicas !== seen) [seen, since] = [replicas, Date.now()];
      const serving = [...engines.engines.values()].filter((e) => e.state === "running").length;
      return serving >= replicas && Date.now() - since >= 6_000 ? replicas : undefined;
    });
    expect(held).to.be.greaterThan(1);
    load?.abort();
    // The engines go away under Ready pods: every scrape is refused.
    for (const e of engines.engines.values()) await e.simulator?.close();
    // Well past the down window and the observe window: an autoscaler that read the silence as zero load would
    // have scaled down by now.
    const until = Date.now() + (DOWN_WINDOW_S + 20) * 1000;
    while (Date.now() < until) {
      expect(await replicasOf("llama")).to.equal(held);
      await sleep(1_000);
    }
    const pa = await api().get<PodAutoscalerView>(paPath("llama-kpa"));
    expect(pa.status?.conditions?.find((c) => c.type === "ScalingActive")).to.include({
      status: "False",
      reason: "FailedGetMetrics",
    });
  });

  it("KPA: once load has stopped, replicas fall after the down window, never below min", async function () {
    this.timeout(120_000);
    const high = await replicasOf("llama");
    await Promise.all([...engines.engines.keys()].map((key) => engines.restartEngine(key)));
    const answered = Date.now();
    const seen: number[] = [];
    await waitFor("replicas back to 1", 90_000, async () => {
      seen.push(await replicasOf("llama"));
      return seen[seen.length - 1] === 1 ? true : undefined;
    });
    const took = (Date.now() - answered) / 1000;
    expect(took, `seconds from idle metrics to min (from ${high})`).to.be.at.least(DOWN_WINDOW_S - 3);
    await sleep(6_000);
    expect(await replicasOf("llama")).to.equal(1);
    expect(Math.min(...seen)).to.equal(1);
  });

  it("a schedule raises min at its start time", async function () {
    this.timeout(150_000);
    await api().create(`/apis/apps/v1/namespaces/${NS}/deployments`, plainDeployment("batch"));
    // A window from the next whole minute, in a zone where it does not cross midnight.
    const startAt = Math.ceil((Date.now() + 5_000) / 60_000) * 60_000;
    const zone = new Date(startAt).getUTCHours() >= 22 ? "Asia/Tokyo" : "UTC";
    const hhmm = (ms: number) =>
      new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(
        new Date(ms),
      );
    const pa = podAutoscaler("batch-pa", "batch", "KPA", {});
    Object.assign(pa.spec, {
      schedules: [
        { name: "peak", timezone: zone, startTime: hhmm(startAt), endTime: hhmm(startAt + 5 * 60_000), minReplicas: 3 },
      ],
    });
    await api().create(paPath(), pa);
    await sleep(Math.max(0, startAt - Date.now() - 3_000));
    expect(await replicasOf("batch"), "before the start").to.equal(1);
    await waitFor("min raised to 3", 20_000, async () => ((await replicasOf("batch")) === 3 ? true : undefined));
    expect(Date.now()).to.be.at.least(startAt);
    // The scale is written before the status that explains it, so read the status once it has caught up.
    const bounds = await waitFor("scheduledBounds written", 10_000, async () => {
      const view = await api().get<{ status?: { scheduledBounds?: Record<string, unknown> } }>(paPath("batch-pa"));
      return view.status?.scheduledBounds?.activeSchedule ? view.status.scheduledBounds : undefined;
    });
    expect(bounds).to.deep.equal({
      activeSchedule: "peak",
      effectiveMinReplicas: 3,
      effectiveMaxReplicas: 4,
    });
  });

  it("HPA strategy: creates <pa>-hpa, owned by the PodAutoscaler, which the kube-controller-manager acts on", async function () {
    this.timeout(120_000);
    await api().create(`/apis/apps/v1/namespaces/${NS}/deployments`, plainDeployment("web"));
    const pa = await api().create<{ metadata: { uid: string } }>(
      paPath(),
      podAutoscaler("web-hpa-pa", "web", "HPA", { "autoscaling.aibrix.ai/max-scale-up-rate": "3" }),
    );
    type Hpa = {
      metadata: { ownerReferences?: { uid: string; controller?: boolean }[] };
      spec: { behavior?: { scaleUp?: { policies?: { value: number }[] } } };
      status?: { conditions?: Condition[] };
    };
    const hpaPath = `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/web-hpa-pa-hpa`;
    const hpa = await waitFor("the HPA", 30_000, () =>
      api()
        .get<Hpa>(hpaPath)
        .catch(() => undefined),
    );
    expect(hpa.metadata.ownerReferences?.[0]).to.include({ uid: pa.metadata.uid, controller: true });
    expect(hpa.spec.behavior?.scaleUp?.policies?.[0]?.value).to.equal(200);
    // The controller-manager's HPA controller reads the target's /scale and reports on it.
    const acted = await waitFor("the controller-manager's AbleToScale", 60_000, async () => {
      const h = await api().get<Hpa>(hpaPath);
      return h.status?.conditions?.find((c) => c.type === "AbleToScale");
    });
    expect(acted).to.include({ status: "True" });
  });
});
