// adapter-convergence: 100 ModelAdapters (one replica each) applied at once over 20 engine-backed pods on the
// loopback control plane; the controllers run as their own process with product defaults (leader election on).
// Measured per round: seconds from the first apply to every adapter Running, API requests and engine calls per
// adapter (from the controllers' own /metrics), controller CPU, and how evenly leastAdapters spread them.
// Needs the pod range of scripts/netns.sh: `scripts/netns.sh npm run bench -- adapter-convergence`.
import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import type { TopLevelSpec } from "vega-lite";
import { startCluster, type LoopbackCluster } from "../../cluster/index.js";
import { installCrds } from "../../cluster/crds.js";
import { startEnginePods, type EnginePods } from "../../cluster/engine-pods.js";
import { assertPodRangeIsLocal, NAMESPACED_POD_CIDR } from "../../cluster/pod-network.js";
import { parsePrometheusText } from "../../engines/prometheus.js";
import { loraDeployment, startControllersProcess } from "../../test/support/controllers-process.js";
import { cpuSeconds } from "../lib/proc.js";
import { median } from "../lib/stats.js";
import type { Benchmark, BenchContext, BenchResult } from "../lib/result.js";
import { TARGETS } from "./readme.js";

const NS = "bench";
const MODEL = "llama-3-8b";
const TARGET_SECONDS = TARGETS.secondsToReady.value;
const TARGET_ENGINE_CALLS = TARGETS.engineCallsPerAdapter.value;

type Adapter = { metadata: { name: string }; status?: { phase?: string; instances?: string[] } };

async function scrape(url: string): Promise<{ api: number; engine: Record<string, number> }> {
  const samples = parsePrometheusText(await (await fetch(`${url}/metrics`)).text());
  const api = samples.filter((s) => s.name === "rest_client_requests_total" && s.labels.method !== "WATCH");
  const engine: Record<string, number> = {};
  for (const s of samples.filter((x) => x.name === "aibrix_model_adapter_engine_calls_total")) {
    engine[s.labels.call ?? ""] = s.value;
  }
  return { api: api.reduce((a, s) => a + s.value, 0), engine };
}

/** Adapters of `names` the engines hold, counted per engine. */
function heldCopies(engines: EnginePods, names: string[]): number {
  const wanted = new Set(names);
  let n = 0;
  for (const e of engines.engines.values()) n += e.simulator?.adapters().filter((a) => wanted.has(a)).length ?? 0;
  return n;
}

async function run(ctx: BenchContext): Promise<Omit<BenchResult, "name" | "date" | "machine">> {
  await assertPodRangeIsLocal(NAMESPACED_POD_CIDR);
  const rounds = ctx.quick ? 1 : 3;
  const adapters = ctx.quick ? 20 : 100;
  const pods = 20;
  let cluster: LoopbackCluster | undefined;
  let engines: EnginePods | undefined;
  let controllers: ChildProcess | undefined;
  try {
    ctx.progress("starting the loopback control plane");
    cluster = await startCluster({
      podCidr: NAMESPACED_POD_CIDR,
      nodes: [{ name: "gpu-a100", count: 3, gpusPerNode: 8, product: "NVIDIA-A100-SXM4-80GB" }],
    });
    const api = cluster.api;
    await api.create("/api/v1/namespaces", { metadata: { name: NS } });
    await installCrds(api);
    engines = await startEnginePods({ kubeconfig: cluster.kubeconfig, namespace: NS, speedup: 20 });
    await api.create(`/apis/apps/v1/namespaces/${NS}/deployments`, loraDeployment(MODEL, pods, 8));
    ctx.progress(`waiting for ${pods} engine pods`);
    await engines.waitForEngines(pods, { timeoutMs: 180_000 });
    await sleep(6_000); // pods Ready ≥ 5 s, so one-replica placement may use every pod
    const started = await startControllersProcess(cluster.kubeconfig, ["--leader-elect-namespace", NS]);
    controllers = started.child;
    const base = `/apis/model.aibrix.ai/v1alpha1/namespaces/${NS}/modeladapters`;
    const series: Record<string, unknown>[] = [];
    const perRound: {
      seconds: number;
      api: number;
      engine: number;
      cpu: number;
      spread: number;
      extraCopies: number;
    }[] = [];
    for (let r = 1; r <= rounds; r++) {
      const before = await scrape(started.url);
      const cpuBefore = cpuSeconds(controllers.pid!);
      const t0 = Date.now();
      const names = Array.from({ length: adapters }, (_, i) => `r${r}-lora-${i}`);
      const queue = [...names];
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let name = queue.shift(); name; name = queue.shift()) {
            await api.create(base, {
              apiVersion: "model.aibrix.ai/v1alpha1",
              kind: "ModelAdapter",
              metadata: { name },
              spec: {
                baseModel: MODEL,
                podSelector: { matchLabels: { app: "llama" } },
                artifactURL: `huggingface://org/${name}`,
                replicas: 1,
              },
            });
          }
        }),
      );
      let running = 0;
      let list: Adapter[] = [];
      while (running < adapters) {
        if (Date.now() - t0 > 300_000) throw new Error(`round ${r}: only ${running}/${adapters} Running after 300 s`);
        await sleep(250);
        list = (await api.get<{ items: Adapter[] }>(base)).items;
        running = list.filter((a) => a.status?.phase === "Running" && (a.status.instances?.length ?? 0) === 1).length;
        series.push({ round: `round ${r}`, seconds: (Date.now() - t0) / 1000, running });
      }
      const seconds = (Date.now() - t0) / 1000;
      await sleep(1_000); // let the last status writes land in the counters
      const after = await scrape(started.url);
      const perPod = new Map<string, number>();
      for (const a of list) for (const p of a.status?.instances ?? []) perPod.set(p, (perPod.get(p) ?? 0) + 1);
      const counts = [...perPod.values()];
      const engineCalls =
        (after.engine.list ?? 0) + (after.engine.load ?? 0) - (before.engine.list ?? 0) - (before.engine.load ?? 0);
      perRound.push({
        seconds,
        api: (after.api - before.api) / adapters,
        engine: engineCalls / adapters,
        cpu: cpuSeconds(controllers.pid!) - cpuBefore,
        spread: Math.max(...counts) - (perPod.size < pods ? 0 : Math.min(...counts)),
        // Copies the engines hold beyond one per adapter: a one-replica adapter must never be loaded twice.
        extraCopies: heldCopies(engines, names) - adapters,
      });
      ctx.progress(
        `round ${r}: ${adapters} adapters Running in ${seconds.toFixed(1)} s; ${perRound.at(-1)!.api.toFixed(1)} API requests and ${perRound.at(-1)!.engine.toFixed(2)} engine calls per adapter`,
      );
      ctx.progress(`round ${r}: deleting (each is unloaded before its finalizer goes)`);
      await Promise.all(names.map((n) => api.delete(`${base}/${n}`)));
      while ((await api.get<{ items: Adapter[] }>(base)).items.length > 0) await sleep(250);
    }
    const seconds = perRound.map((p) => p.seconds);
    return {
      params: {
        adapters,
        pods,
        rounds,
        replicasPerAdapter: 1,
        placement: "leastAdapters (default)",
        controllers:
          "aibrix-ts controllers as its own process, product defaults (leader election, 8 workers, 10 s resync)",
        engines: "engine-backed pods: simulator per pod, LoRA load 200 ms simulated at speedup 20",
        targets: { seconds_to_ready_100: TARGET_SECONDS, engine_calls_per_adapter: TARGET_ENGINE_CALLS },
      },
      summary: {
        seconds_to_ready_100: Math.round(median(seconds) * 100) / 100,
        seconds_to_ready_min: Math.round(Math.min(...seconds) * 100) / 100,
        seconds_to_ready_max: Math.round(Math.max(...seconds) * 100) / 100,
        api_requests_per_adapter: Math.round(median(perRound.map((p) => p.api)) * 100) / 100,
        engine_calls_per_adapter: Math.round(median(perRound.map((p) => p.engine)) * 100) / 100,
        controller_cpu_seconds: Math.round(median(perRound.map((p) => p.cpu)) * 100) / 100,
        placement_spread: median(perRound.map((p) => p.spread)),
        extra_copies_max: Math.max(...perRound.map((p) => p.extraCopies)),
      },
      series: { running_over_time: series, rounds: perRound },
    };
  } finally {
    controllers?.kill("SIGTERM");
    await engines?.stop();
    await cluster?.stop();
  }
}

function plot(result: BenchResult): TopLevelSpec {
  const s = result.summary;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: `ModelAdapters Running after apply (${result.params.adapters} adapters, ${result.params.pods} pods): median ${s.seconds_to_ready_100} s [target ${TARGET_SECONDS}], ${s.engine_calls_per_adapter} engine calls/adapter`,
    data: { values: result.series.running_over_time as unknown[] },
    mark: { type: "line" },
    encoding: {
      x: { field: "seconds", type: "quantitative", title: "seconds since the first apply" },
      y: { field: "running", type: "quantitative", title: "adapters Running" },
      color: { field: "round", type: "nominal" },
    },
    width: 480,
    height: 260,
  } as TopLevelSpec;
}

const bench: Benchmark = { run, plot };
export default bench;
