// The GPU optimizer on the real control plane, wired as AIBrix's samples/heterogeneous runs it: one Deployment of a
// model per GPU type (named after the profile's type, upstream's convention, so no node selector pins its pods),
// each with an `external` PodAutoscaler on the optimizer's /metrics/{namespace}/{deployment}, acted on by
// `aibrix-ts controllers`. `aibrix-ts optimizer` runs as the chart's ServiceAccount with short rounds and window,
// reads the router's workload signal, and publishes the recommendation ConfigMap the scheduler extender reads. Load
// through the router moves from short chat to long prompts: the replicas per type follow the optimizer's plan, and
// the extender puts each new pod on the GPU type its Deployment is short of.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { PROFILES_CONFIGMAP_KEYS } from "../../api/gpu-profile.js";
import { RECOMMENDATIONS_CONFIGMAP, RECOMMENDATIONS_CONFIGMAP_KEY } from "../../api/gpu-recommendation.js";
import { Scheduling } from "../../api/labels.js";
import { startEnginePods, type EnginePods } from "../../cluster/engine-pods.js";
import { chartSchedulerProfile, type LoopbackCluster } from "../../cluster/index.js";
import { freePort } from "../../cluster/processes.js";
import { startExtender, type ExtenderHandle } from "../../extender/index.js";
import { KubernetesDiscovery } from "../../router/discovery/kubernetes.js";
import { WorkloadSignal } from "../../router/metrics/workload-signal.js";
import { startRouter, type Router } from "../../router/server.js";
import { chartComponentKubeconfig, startControllersCluster, SYSTEM_NAMESPACE } from "../support/controllers-cluster.js";
import { startControllersProcess } from "../support/controllers-process.js";
import { waitFor } from "./env.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const NS = "serving";
const MODEL = "llama-3.1-8b";
/** Deployment names = profile GPU types (upstream's convention). */
const CHEAP = "llama-l4";
const BIG = "llama-l40s";
const PROFILES_CONFIGMAP = "aibrix-gpu-profiles";
const PRODUCT: Record<string, string> = { [CHEAP]: "NVIDIA-L4", [BIG]: "NVIDIA-L40S" };

/**
 * Output buckets 16, 64 × input buckets 128, 2048. The L4 serves short prompts at 4 req/s and no 2048-token prompt
 * within the SLO; the L40S serves 8 and 1.5. Short chat is cheaper on L4s ($0.70 per 4 req/s against $1.861 per
 * 8), long prompts only the L40S can serve.
 */
const PROFILES = {
  gpus: {
    [CHEAP]: { memoryGiB: 24, products: [PRODUCT[CHEAP]] },
    [BIG]: { memoryGiB: 48, products: [PRODUCT[BIG]] },
  },
  models: {
    [MODEL]: {
      profiles: [
        {
          gpu: CHEAP,
          cost: 0.7,
          tputs: [
            [4, 0],
            [4, 0],
          ],
          indexes: [
            [16, 64],
            [128, 2048],
          ],
        },
        {
          gpu: BIG,
          cost: 1.861,
          tputs: [
            [8, 1.5],
            [8, 1.5],
          ],
          indexes: [
            [16, 64],
            [128, 2048],
          ],
        },
      ].map((p) => ({ ...p, slos: { percentile: 99, ttft: 2, tpot: 0.1 } })),
    },
  },
};

/**
 * Short chat: 100-token prompts, 16-token answers, 9 req/s: the whole-replica plan is 3 L4s ($2.10/h) for any λ in
 * (8, 12] (1 L40S + 1 L4 cost $2.56, 2 L40S $3.72). Long prompts: 1500 tokens in, 16 out, 2.2 req/s: only the L40S
 * serves them, 2 for any λ in (1.5, 3]. Rates are well inside those bands, so counting noise in one interval does not
 * move the answer.
 */
const SHORT = { rate: 9, input: 100 };
const LONG = { rate: 2.2, input: 1500 };

function modelDeployment(name: string) {
  return {
    metadata: { name, labels: { "model.aibrix.ai/name": MODEL } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, "model.aibrix.ai/name": MODEL } },
        spec: {
          schedulerName: Scheduling.gpuSchedulerName,
          containers: [
            {
              name: "vllm-openai",
              image: "vllm/vllm-openai:v0.10.1",
              command: ["vllm", "serve"],
              args: ["/models/llama", "--served-model-name", MODEL],
              resources: { requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": "1" } },
            },
          ],
        },
      },
    },
  };
}

/** AIBrix's samples/heterogeneous PodAutoscaler, pointed at the optimizer on loopback, with short windows. */
function podAutoscaler(deployment: string, optimizerPort: number) {
  return {
    apiVersion: "autoscaling.aibrix.ai/v1alpha1",
    kind: "PodAutoscaler",
    metadata: {
      name: `${deployment}-pa`,
      namespace: NS,
      annotations: { "autoscaling.aibrix.ai/scale-down-cooldown-window": "5s" },
    },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment },
      minReplicas: 1,
      maxReplicas: 4,
      scalingStrategy: "KPA",
      observeWindowSeconds: 6,
      panicWindowSeconds: 4,
      metricsSources: [
        {
          metricSourceType: "external",
          protocolType: "http",
          endpoint: `127.0.0.1:${optimizerPort}`,
          path: `/metrics/${NS}/${deployment}`,
          targetMetric: "vllm:deployment_replicas",
          targetValue: "100",
        },
      ],
    },
  };
}

interface OptimizerStatus {
  model: string;
  deployments: { name: string; recommendedReplicas: number }[];
  plan?: { feasible: boolean; byDeployment: Record<string, number>; reasons: string[] };
}

type PodView = {
  metadata: { name: string; creationTimestamp: string; ownerReferences?: { name: string }[] };
  spec: { nodeName?: string };
};

describe("GPU optimizer on the loopback cluster: two GPU types of one model, external PodAutoscalers", function () {
  let cluster: LoopbackCluster;
  let engines: EnginePods;
  let router: Router;
  let signal: WorkloadSignal;
  let extender: ExtenderHandle;
  let controllers: ChildProcess | undefined;
  let optimizer: ChildProcess | undefined;
  let optimizerUrl = "";
  let optimizerErr = "";
  let load: AbortController | undefined;
  const api = () => cluster.api;

  const replicasOf = async (deployment: string) =>
    (await api().get<{ spec: { replicas: number } }>(`/apis/apps/v1/namespaces/${NS}/deployments/${deployment}`)).spec
      .replicas;
  const status = async () =>
    ((await (await fetch(`${optimizerUrl}/status`)).json()) as { models: OptimizerStatus[] }).models.find(
      (m) => m.model === MODEL,
    );
  /** What the PodAutoscaler should reach: the plan's replicas rounded up, within [min 1, max 4]. */
  const wanted = (s: OptimizerStatus | undefined, deployment: string) =>
    Math.min(4, Math.max(1, Math.ceil((s?.plan?.byDeployment[`${NS}/${deployment}`] ?? 0) - 1e-9)));
  /** The GPU type (profile name) of the node each pod of `deployment` runs on. */
  async function podTypes(deployment: string): Promise<{ name: string; created: number; type?: string }[]> {
    const pods = await api().get<{ items: PodView[] }>(
      `/api/v1/namespaces/${NS}/pods?labelSelector=app%3D${deployment}`,
    );
    const nodes = await api().get<{ items: { metadata: { name: string; labels?: Record<string, string> } }[] }>(
      "/api/v1/nodes",
    );
    const product = new Map(nodes.items.map((n) => [n.metadata.name, n.metadata.labels?.[Scheduling.gpuProductLabel]]));
    const typeOf = (p?: string) => Object.keys(PRODUCT).find((t) => PRODUCT[t] === p);
    return pods.items.map((p) => ({
      name: p.metadata.name,
      created: Date.parse(p.metadata.creationTimestamp),
      type: p.spec.nodeName ? typeOf(product.get(p.spec.nodeName)) : undefined,
    }));
  }

  /** Open-loop load: `rate` completions a second of `input` prompt tokens (the simulator counts "hello " as 2). */
  function startLoad(rate: number, input: number): AbortController {
    const stop = new AbortController();
    const prompt = "hello ".repeat(input / 2);
    void (async () => {
      const t0 = Date.now();
      for (let i = 0; !stop.signal.aborted; i++) {
        const wait = t0 + (i * 1000) / rate - Date.now();
        if (wait > 0) await sleep(wait);
        void fetch(`${router.url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: MODEL, prompt, max_tokens: 16, min_tokens: 16, ignore_eos: true }),
          signal: stop.signal,
        })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
      }
    })();
    return stop;
  }

  async function diagnose(): Promise<string> {
    const pas = await Promise.all(
      [CHEAP, BIG].map((d) =>
        api()
          .get<{ status?: unknown }>(`/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/${NS}/podautoscalers/${d}-pa`)
          .then((x) => x.status)
          .catch((e: Error) => e.message),
      ),
    );
    const optimizerStatus = await status().catch((e: Error) => e.message);
    return JSON.stringify({ pas, optimizerStatus, optimizerErr: optimizerErr.slice(-2000) }, null, 1);
  }

  async function waitOrExplain<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
    try {
      return await waitFor(what, ms, probe);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await diagnose()}`, { cause: err });
    }
  }

  /** Waits until both Deployments run what the current plan says (and the plan has `check` true). */
  async function followsPlan(what: string, check: (s: OptimizerStatus) => boolean) {
    return await waitOrExplain(what, 150_000, async () => {
      const s = await status();
      if (!s?.plan?.feasible || !check(s)) return undefined;
      const [cheap, big] = [await replicasOf(CHEAP), await replicasOf(BIG)];
      return cheap === wanted(s, CHEAP) && big === wanted(s, BIG) ? { s, cheap, big } : undefined;
    });
  }

  /** Every pod of `deployment` created after `since` is bound, and to a node of the Deployment's own type. */
  async function newPodsPlaced(deployment: string, since: number, count: number) {
    const pods = await waitOrExplain(`${count} new ${deployment} pods bound`, 60_000, async () => {
      const fresh = (await podTypes(deployment)).filter((p) => p.created >= since);
      return fresh.length >= count && fresh.every((p) => p.type !== undefined) ? fresh : undefined;
    });
    expect(
      pods.map((p) => p.type),
      `${deployment}'s new pods on the GPU type it is short of`,
    ).to.deep.equal(pods.map(() => deployment));
  }

  before(async function () {
    this.timeout(10 * 60_000);
    let kubeconfig: string;
    ({ cluster, kubeconfig } = await startControllersCluster({
      namespaces: [NS],
      nodes: [
        { name: "gpu-l4", count: 2, gpusPerNode: 4, product: PRODUCT[CHEAP]! },
        { name: "gpu-l40s", count: 2, gpusPerNode: 4, product: PRODUCT[BIG]! },
      ],
    }));
    await api().create(`/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps`, {
      metadata: { name: PROFILES_CONFIGMAP, namespace: SYSTEM_NAMESPACE },
      data: { [PROFILES_CONFIGMAP_KEYS[0]!]: stringify(PROFILES) },
    });
    // The deficit term weighs 3: a type the Deployment is short of (deficit 1) outscores any other node on cost and
    // packing together, so placement shows the recommendation, not a tie broken elsewhere.
    extender = await startExtender({
      host: "127.0.0.1",
      port: 0,
      kubeconfig: cluster.kubeconfig,
      profilesConfigMap: { namespace: SYSTEM_NAMESPACE, name: PROFILES_CONFIGMAP },
      recommendationsConfigMap: { namespace: SYSTEM_NAMESPACE, name: RECOMMENDATIONS_CONFIGMAP },
      policy: { weights: { cost: 1, deficit: 3, packing: 1 } },
      logLevel: "error",
    });
    await cluster.startGpuScheduler(
      { urlPrefix: extender.urlPrefix, bindVerb: "bind", preemptVerb: "preempt", weight: 5 },
      chartSchedulerProfile(),
    );
    engines = await startEnginePods({ kubeconfig: cluster.kubeconfig, namespace: NS });
    // The router as `aibrix-ts router` wires it: every finished request counted in its shape bucket on /metrics.
    signal = new WorkloadSignal();
    router = await startRouter({
      host: "127.0.0.1",
      port: 0,
      discovery: new KubernetesDiscovery({ kubeconfig: cluster.kubeconfig, namespace: NS }),
      flowControl: signal.wrap(undefined),
      logLevel: "error",
    });
    signal.publishOn(router.metrics.registry);

    // The optimizer as the chart's ServiceAccount, 3 s rounds over a 15 s window.
    const optimizerKubeconfig = await chartComponentKubeconfig(cluster, "optimizer.yaml", "aibrix-ts-optimizer", [
      "optimizer.enabled=true",
    ]);
    const port = await freePort();
    optimizer = spawn(
      process.execPath,
      [
        ...["--import", "tsx", "cli/main.ts", "optimizer", "--kubeconfig", optimizerKubeconfig],
        ...["--host", "127.0.0.1", "--port", String(port), "--router-url", router.url],
        ...["--profiles-configmap", `${SYSTEM_NAMESPACE}/${PROFILES_CONFIGMAP}`],
        ...["--recommendations-configmap", `${SYSTEM_NAMESPACE}/${RECOMMENDATIONS_CONFIGMAP}`],
        ...["--interval", "3", "--window", "15"],
      ],
      { cwd: root, stdio: ["ignore", "ignore", "pipe"] },
    );
    optimizer.stderr!.setEncoding("utf8").on("data", (c: string) => (optimizerErr = (optimizerErr + c).slice(-8000)));
    optimizerUrl = `http://127.0.0.1:${port}`;
    await waitFor("the optimizer serving", 60_000, () =>
      fetch(`${optimizerUrl}/healthz`)
        .then((r) => (r.ok ? true : undefined))
        .catch(() => undefined),
    );
    // The extender has read its documents once the optimizer's first round published the recommendation ConfigMap.
    await extender.synced;
    for (const d of [CHEAP, BIG]) await api().create(`/apis/apps/v1/namespaces/${NS}/deployments`, modelDeployment(d));
    await engines.waitForEngines(2, { timeoutMs: 60_000 });

    const flags = ["--no-leader-elect", "--controllers", "pod-autoscaler", "--pod-autoscaler-sync-period", "2"];
    controllers = (await startControllersProcess(kubeconfig, [...flags, "--pod-autoscaler-warm-up", "0"])).child;
    for (const d of [CHEAP, BIG]) {
      await api().create(
        `/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/${NS}/podautoscalers`,
        podAutoscaler(d, port),
      );
    }
  });

  after(async function () {
    this.timeout(60_000);
    load?.abort();
    controllers?.kill("SIGKILL");
    optimizer?.kill("SIGKILL");
    await router?.close();
    await signal?.close();
    await engines?.stop();
    await extender?.close();
    await cluster?.stop();
  });

  it("no traffic: the router reports none, the plan is 0 replicas, and the PodAutoscalers hold their minimum", async function () {
    const text = await waitOrExplain("a plan for the idle model", 30_000, async () => {
      const t = await (await fetch(`${optimizerUrl}/metrics/${NS}/${CHEAP}`)).text();
      return (await status())?.plan ? t : undefined;
    });
    const sample = text.split("\n").find((l) => l.startsWith("vllm:deployment_replicas{"));
    expect(sample, text).to.equal(`vllm:deployment_replicas{model_name="${MODEL}"} 0`);
    await sleep(5_000); // two PodAutoscaler ticks
    expect(await replicasOf(CHEAP)).to.equal(1);
    expect(await replicasOf(BIG)).to.equal(1);
  });

  it("short chat through the router: the L4 Deployment grows to the plan, its new pods land on L4 nodes", async function () {
    this.timeout(240_000);
    const since = Date.now() - 1000;
    load = startLoad(SHORT.rate, SHORT.input);
    // The plan in its band (a young window can put λ under 8 req/s, 2 L4s; a burst in one interval over 12, 4).
    const { s, cheap, big } = await followsPlan("replicas per type to follow the short-chat plan", (x) => {
      const plan = x.plan!.byDeployment;
      const cheap = plan[`${NS}/${CHEAP}`] ?? 0;
      return cheap > 2 && cheap <= 3 && (plan[`${NS}/${BIG}`] ?? 0) === 0;
    });
    expect(cheap, JSON.stringify(s.plan)).to.equal(3);
    expect(big).to.equal(1); // the plan's 0, held at the PodAutoscaler's minReplicas
    await newPodsPlaced(CHEAP, since, 2);
    const cm = await api().get<{ data: Record<string, string> }>(
      `/api/v1/namespaces/${SYSTEM_NAMESPACE}/configmaps/${RECOMMENDATIONS_CONFIGMAP}`,
    );
    const recs = JSON.parse(cm.data[RECOMMENDATIONS_CONFIGMAP_KEY]!) as {
      recommendations: { deployment: string; recommended: Record<string, number> }[];
    };
    expect(recs.recommendations.find((r) => r.deployment === CHEAP)?.recommended).to.deep.equal({ [CHEAP]: cheap });
  });

  it("the mix shifts to long prompts: the L40S Deployment grows and the L4 one falls back to its minimum", async function () {
    this.timeout(240_000);
    load?.abort();
    const since = Date.now() - 1000;
    load = startLoad(LONG.rate, LONG.input);
    const { s, cheap, big } = await followsPlan("replicas per type to follow the long-prompt plan", (x) => {
      const plan = x.plan!.byDeployment;
      const big = plan[`${NS}/${BIG}`] ?? 0;
      return big > 1 && big <= 2 && (plan[`${NS}/${CHEAP}`] ?? 0) === 0;
    });
    expect(big, JSON.stringify(s.plan)).to.equal(2);
    expect(cheap).to.equal(1);
    await newPodsPlaced(BIG, since, 1);
    // The plan reached the PodAutoscalers through the external source, not by another path.
    const pa = await api().get<{ status?: { scalingHistory?: { newScale: number }[] } }>(
      `/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/${NS}/podautoscalers/${BIG}-pa`,
    );
    expect(pa.status?.scalingHistory?.some((h) => h.newScale === 2)).to.equal(true);
  });
});
