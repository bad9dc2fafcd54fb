// One arm of the autoscaler-reaction benchmark: a namespace with a Deployment of engine-backed pods, a router in
// front of them, an autoscaler (a PodAutoscaler the controllers act on, or the HPA-style baseline run here), a load
// client that sends the trace's requests through the router, and an observer sampling the Deployment and its pods.
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { Pool } from "undici";
import type { KubeApi } from "../../cluster/api.js";
import { engineMetricValue } from "../../controllers/pod-autoscaler/sources/engine-metric.js";
import { KubernetesDiscovery } from "../../router/discovery/kubernetes.js";
import { startRouter, type Router } from "../../router/server.js";
import type { ClusterSample, RequestRecord } from "./measure.js";
import { hpaBaseline, podAutoscaler } from "./strategies.js";
import { BOUNDS, ENGINE, INITIAL_REPLICAS, METRICS, PRODUCT_DEFAULTS, SPEEDUP } from "./trace.js";

export type ArmName = "kpa" | "apa" | "hpa";

export const MODEL = "llama-3-8b";
const DEPLOYMENT = "llama";
/** The observer's sampling period, in trace seconds. */
const SAMPLE_S = 5;

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

const isReady = (p: Pod) =>
  !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/** Trace seconds since `t0` (a performance.now() reading). */
export const traceSeconds = (t0: number) => ((performance.now() - t0) / 1000) * SPEEDUP;

function deployment() {
  return {
    metadata: { name: DEPLOYMENT },
    spec: {
      replicas: INITIAL_REPLICAS,
      selector: { matchLabels: { app: DEPLOYMENT } },
      template: {
        metadata: { labels: { app: DEPLOYMENT, "model.aibrix.ai/name": MODEL } },
        spec: {
          containers: [
            {
              name: "vllm-openai",
              image: "vllm/vllm-openai:v0.10.1",
              command: ["vllm", "serve"],
              args: ["/models/llama", "--served-model-name", MODEL, "--max-num-seqs", String(ENGINE.maxNumSeqs)],
              resources: { requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": "1" } },
            },
          ],
        },
      },
    },
  };
}

const CHAT = (i: number) =>
  JSON.stringify({
    model: MODEL,
    messages: [{ role: "user", content: `Request ${i}: summarise the quarterly report in one short paragraph.` }],
    max_tokens: ENGINE.maxTokens,
    ignore_eos: true,
    stream: true,
  });

export class Arm {
  readonly samples: ClusterSample[] = [];
  readonly requests: Promise<RequestRecord>[] = [];
  /** What the autoscaler did, for the reader of a result: trace second and words. */
  readonly decisions: { second: number; note: string }[] = [];
  private readonly pool: Pool;
  private readonly stop = new AbortController();
  private readonly loops: Promise<void>[] = [];

  private constructor(
    readonly name: ArmName,
    readonly namespace: string,
    private readonly api: KubeApi,
    private readonly router: Router,
  ) {
    this.pool = new Pool(router.url, { connections: 256, headersTimeout: 120_000, bodyTimeout: 120_000 });
    // Every request in flight listens for the end of the run.
    setMaxListeners(0, this.stop.signal);
  }

  /** Namespace, router and a Deployment of INITIAL_REPLICAS engine pods, Ready and answering through the router. */
  static async prepare(api: KubeApi, kubeconfig: string, name: ArmName, namespace: string): Promise<Arm> {
    await api.create("/api/v1/namespaces", { metadata: { name: namespace } });
    const router = await startRouter({
      host: "127.0.0.1",
      port: 0,
      discovery: new KubernetesDiscovery({ kubeconfig, namespace }),
      logLevel: "error",
    });
    const arm = new Arm(name, namespace, api, router);
    await api.create(`/apis/apps/v1/namespaces/${namespace}/deployments`, deployment());
    const deadline = Date.now() + 120_000;
    for (;;) {
      const ready = (await arm.pods()).filter(isReady).length;
      const probe = ready >= INITIAL_REPLICAS ? await arm.send(0, -1) : undefined;
      if (probe && Number.isFinite(probe.ttftS)) return arm;
      if (Date.now() > deadline)
        throw new Error(`${namespace}: ${ready} of ${INITIAL_REPLICAS} engine pods Ready and answering after 120 s`);
      await sleep(500);
    }
  }

  private async pods(): Promise<Pod[]> {
    const path = `/api/v1/namespaces/${this.namespace}/pods?labelSelector=app%3D${DEPLOYMENT}`;
    return (await this.api.get<{ items: Pod[] }>(path)).items;
  }

  private async replicas(): Promise<number> {
    const path = `/apis/apps/v1/namespaces/${this.namespace}/deployments/${DEPLOYMENT}`;
    return (await this.api.get<{ spec: { replicas: number } }>(path)).spec.replicas;
  }

  /** Hands the Deployment to this arm's autoscaler, from trace time 0 at `t0`. */
  async startAutoscaler(t0: number): Promise<void> {
    if (this.name !== "hpa") {
      const pa = podAutoscaler(this.name === "kpa" ? "KPA" : "APA", DEPLOYMENT, SPEEDUP);
      await this.api.create(`/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/${this.namespace}/podautoscalers`, pa);
      return;
    }
    const decide = hpaBaseline({ bounds: BOUNDS });
    this.loops.push(this.every(PRODUCT_DEFAULTS.hpaSyncS, () => this.hpaSync(t0, decide)));
  }

  private async hpaSync(t0: number, decide: ReturnType<typeof hpaBaseline>): Promise<void> {
    const [replicas, pods] = await Promise.all([this.replicas(), this.pods()]);
    const texts = await Promise.all(
      pods.filter(isReady).map((p) =>
        fetch(`http://${p.status?.podIP}:8000/metrics`, { signal: AbortSignal.timeout(2_000) })
          .then((r) => r.text())
          .catch(() => undefined),
      ),
    );
    const answered = texts.filter((t): t is string => t !== undefined);
    // As the HPA does with no metrics at all: no decision this sync.
    if (answered.length === 0) return;
    const metrics = METRICS.map((m) => ({
      target: m.targetPerPod,
      values: answered.map((t) => engineMetricValue(t, m.name, "vllm")).filter((v): v is number => v !== undefined),
    }));
    const live = pods.filter((p) => !p.metadata.deletionTimestamp).length;
    const want = decide({ nowMs: traceSeconds(t0) * 1000, replicas, pods: live, metrics });
    if (want !== replicas) {
      const means = metrics.map((m, i) => {
        const mean = m.values.reduce((a, v) => a + v, 0) / Math.max(1, m.values.length);
        return `${METRICS[i]!.name} ${mean.toFixed(2)}`;
      });
      this.decisions.push({
        second: Math.round(traceSeconds(t0)),
        note: `${replicas} → ${want} (means over ${answered.length} of ${live} pods: ${means.join(", ")})`,
      });
      await this.api.mergePatch(`/apis/apps/v1/namespaces/${this.namespace}/deployments/${DEPLOYMENT}/scale`, {
        spec: { replicas: want },
      });
    }
  }

  /** Samples replicas and pods every SAMPLE_S trace seconds from `t0`. */
  startObserver(t0: number): void {
    this.loops.push(
      this.every(SAMPLE_S, async () => {
        const second = traceSeconds(t0);
        const [replicas, pods] = await Promise.all([this.replicas(), this.pods()]);
        this.samples.push({ second, replicas, pods: pods.length, ready: pods.filter(isReady).length });
      }),
    );
  }

  /** Runs `tick` every `periodS` trace seconds until stopped; a failed tick is retried at the next. */
  private async every(periodS: number, tick: () => Promise<void>): Promise<void> {
    const periodMs = (periodS * 1000) / SPEEDUP;
    let next = performance.now();
    while (!this.stop.signal.aborted) {
      await tick().catch((err: unknown) => console.error(`${this.namespace}: ${(err as Error).message}`));
      next += periodMs;
      await sleep(Math.max(0, next - performance.now()), undefined, { signal: this.stop.signal }).catch(() => {});
    }
  }

  /** Sends request `i` of the trace (sent at trace second `at`) through the router; resolves with its TTFT. */
  send(at: number, i: number): Promise<RequestRecord> {
    const start = performance.now();
    const sent = this.pool
      .request({
        path: "/v1/chat/completions",
        method: "POST",
        headers: { "content-type": "application/json" },
        body: CHAT(i),
        signal: this.stop.signal,
      })
      .then(async (res) => {
        let first = 0;
        for await (const _chunk of res.body) if (first === 0) first = performance.now();
        const ok = res.statusCode === 200 && first > 0;
        return { at, ttftS: ok ? ((first - start) / 1000) * SPEEDUP : Infinity };
      })
      .catch(() => ({ at, ttftS: Infinity }));
    if (i >= 0) this.requests.push(sent);
    return sent;
  }

  /** Waits up to `graceMs` for requests still in flight (those then count as failed), stops the loops. */
  async finish(graceMs: number): Promise<RequestRecord[]> {
    const settled = Promise.all(this.requests);
    const timer = setTimeout(() => this.stop.abort(), graceMs);
    const records = await settled;
    clearTimeout(timer);
    this.stop.abort();
    await Promise.all(this.loops);
    return records;
  }

  /** The PodAutoscaler's rescale Events (KPA, APA) with the trace second each happened at. */
  async paEvents(t0: number): Promise<void> {
    if (this.name === "hpa") return;
    type Event = { eventTime?: string; reason: string; note?: string; regarding?: { kind?: string } };
    const list = await this.api.get<{ items: Event[] }>(`/apis/events.k8s.io/v1/namespaces/${this.namespace}/events`);
    const epochOfT0 = Date.now() - (performance.now() - t0);
    for (const e of list.items.filter((x) => x.regarding?.kind === "PodAutoscaler")) {
      const at = e.eventTime ? Date.parse(e.eventTime) : NaN;
      const second = Math.round(((at - epochOfT0) / 1000) * SPEEDUP);
      this.decisions.push({ second, note: `${e.reason}: ${e.note ?? ""}` });
    }
    this.decisions.sort((a, b) => a.second - b.second);
  }

  /** Router closed, namespace deleted; resolves once its pods are gone (their engines with them). */
  async teardown(): Promise<void> {
    this.stop.abort();
    await this.pool.close().catch(() => {});
    await this.router.close();
    await this.api.delete(`/api/v1/namespaces/${this.namespace}`);
    const deadline = Date.now() + 120_000;
    while ((await this.pods().catch(() => [])).length > 0 && Date.now() < deadline) await sleep(1_000);
  }
}
