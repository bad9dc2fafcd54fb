// Scheduling throughput of the real kube-scheduler on a loopback control plane with kwok GPU nodes, with and without
// our extender (filter + prioritize + bind, names-only), side by side in one run on the same cluster.
//
// A fourth pass is a reference: an extender that decides nothing but binds (noop-extender.ts), so what the protocol
// itself costs kube-scheduler shows apart from what our extender's decisions add.
//
// Each pass: create the pods first under a scheduler name no scheduler serves yet, then start the scheduler for that
// name and time the binds from a watch. That isolates scheduling from pod creation. kwok then marks the pods Running,
// as on a real cluster, so the API server carries the same status traffic in both passes.
import { writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TopLevelSpec } from "vega-lite";
import { Model, Scheduling } from "../../api/labels.js";
import { chartSchedulerProfile, startCluster, type LoopbackCluster, type NodeGroup } from "../../cluster/index.js";
import { freePort, spawnLogged, waitHealthy, stopProcess } from "../../cluster/processes.js";
import type { Benchmark, BenchContext, BenchResult } from "../lib/result.js";
import { cpuSeconds } from "../lib/proc.js";
import { median, spread } from "../lib/stats.js";
import { TARGETS } from "./readme.js";

const CLI = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));
const NOOP_EXTENDER = fileURLToPath(new URL("./noop-extender.ts", import.meta.url));
const MODEL = "llama-70b";
/** Extra node options for the extender process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where it spends. */
const EXTENDER_NODE_ARGS = (process.env.BENCH_EXTENDER_NODE_ARGS ?? "").split(" ").filter(Boolean);

/** L4 cannot serve the model within its SLO and A10G has no profile: the extender keeps pods to H100/A100. */
const PROFILES = `
gpus:
  H100: { memoryGiB: 80, products: [NVIDIA-H100-80GB-HBM3] }
  A100: { memoryGiB: 80, products: [NVIDIA-A100-SXM4-80GB] }
  L4: { memoryGiB: 24, products: [NVIDIA-L4] }
models:
  ${MODEL}:
    profiles:
      - { gpu: H100, cost: 12.0, tputs: [[20, 20], [20, 20]], indexes: [[128, 256], [128, 256]] }
      - { gpu: A100, cost: 3.0, tputs: [[18, 18], [18, 18]], indexes: [[128, 256], [128, 256]] }
      - { gpu: L4, cost: 0.8, tputs: [[0, 0], [0, 0]], indexes: [[128, 256], [128, 256]] }
`;

function fleet(nodes: number): NodeGroup[] {
  const quarter = Math.max(1, Math.floor(nodes / 4));
  return [
    { name: "h100", count: quarter, gpusPerNode: 8, product: "NVIDIA-H100-80GB-HBM3", cpu: "192", memory: "2048Gi" },
    { name: "a100", count: quarter, gpusPerNode: 8, product: "NVIDIA-A100-SXM4-80GB", cpu: "96", memory: "1152Gi" },
    { name: "l4", count: quarter, gpusPerNode: 4, product: "NVIDIA-L4", cpu: "48", memory: "192Gi" },
    { name: "a10g", count: nodes - 3 * quarter, gpusPerNode: 1, product: "NVIDIA-A10G", cpu: "8", memory: "32Gi" },
  ];
}

function pod(name: string, schedulerName: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { [Model.name]: MODEL, bench: schedulerName } },
    spec: {
      schedulerName,
      containers: [
        {
          name: "engine",
          image: "example.invalid/engine:1",
          resources: {
            requests: { cpu: "1", memory: "4Gi", [Scheduling.gpuResource]: "1" },
            limits: { [Scheduling.gpuResource]: "1" },
          },
        },
      ],
    },
  };
}

async function createPods(cluster: LoopbackCluster, namespace: string, schedulerName: string, count: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 24 }, async () => {
      while (next < count) {
        const i = next++;
        await cluster.api.create(`/api/v1/namespaces/${namespace}/pods`, pod(`p-${i}`, schedulerName));
      }
    }),
  );
}

interface Pass {
  mode: "with_extender" | "without_extender" | "with_extender_scheduler_binds" | "with_noop_extender";
  /** 1-based. */
  round?: number;
  pods: number;
  seconds: number;
  podsPerSecond: number;
  /** [seconds since the first bind, pods bound so far] every 50 binds. */
  curve: [number, number][];
  /**
   * CPU seconds each process used from the scheduler's start to the last bind, by role (the pass's own
   * kube-scheduler as "kube-scheduler"): on a machine this small the passes compete for the same cores.
   */
  cpuSeconds: Record<string, number>;
}

/** A process's role in the pass: both schedulers count as "kube-scheduler". */
function role(processName: string): string {
  return processName.startsWith("kube-scheduler") ? "kube-scheduler" : processName;
}

/** CPU seconds so far of every process the cluster holds (the extender included), keyed by pid. */
function cpuByPid(cluster: LoopbackCluster): Map<number, { role: string; seconds: number }> {
  return new Map(cluster.state.processes.map((p) => [p.pid, { role: role(p.name), seconds: cpuSeconds(p.pid) }]));
}

/** CPU each role used between two snapshots; a process started in between counts from zero. */
function cpuBetween(
  before: Map<number, { seconds: number }>,
  after: Map<number, { role: string; seconds: number }>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [pid, now] of after) {
    const used = now.seconds - (before.get(pid)?.seconds ?? 0);
    if (Number.isFinite(used)) out[now.role] = Number(((out[now.role] ?? 0) + used).toFixed(2));
  }
  return out;
}

/** Starts `start()` (the scheduler), then waits until every pod of `namespace` has a node; times first→last bind. */
async function timeBinds(
  cluster: LoopbackCluster,
  namespace: string,
  count: number,
  start: () => Promise<void>,
  ctx: BenchContext,
  mode: Pass["mode"],
): Promise<Pass> {
  const bound = new Set<string>();
  const times: number[] = [];
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => (done = resolve));
  let finished = false;
  let stop: () => void = () => {};
  // A watch can end early (server timeout, connection reset, or kube-apiserver dropping a watcher that falls behind
  // while thousands of pods change at once); reopen it until every pod is bound. Pods bound while it was down arrive
  // as ADDED with their node on reopen (recorded a little late, never lost). A reopen runs outside any await, so its
  // own failure (the loaded API server hanging up on the new connection) is caught here and tried again after a
  // pause: left unhandled, that rejection ended the whole benchmark process with a bare "socket hang up".
  const reopen = (): void => {
    if (finished) return;
    watch().catch((err: unknown) => {
      ctx.progress(
        `${mode}: reopening the pod watch failed (${err instanceof Error ? err.message : String(err)}); again in 1 s`,
      );
      setTimeout(reopen, 1000);
    });
  };
  const watch = async (): Promise<void> => {
    const w = await cluster.api.watch<{ metadata: { name: string }; spec?: { nodeName?: string } }>(
      `/api/v1/namespaces/${namespace}/pods`,
      (ev) => {
        if (!ev.object.spec?.nodeName || bound.has(ev.object.metadata.name)) return;
        bound.add(ev.object.metadata.name);
        times.push(performance.now());
        if (bound.size % 500 === 0) ctx.progress(`${mode}: ${bound.size}/${count} bound`);
        if (bound.size === count) done();
      },
    );
    stop = w.stop;
    void w.closed.then(() => {
      if (finished) return;
      ctx.progress(`${mode}: pod watch closed at ${bound.size}/${count}; reopening`);
      reopen();
    });
  };
  await step(`opening the pod watch of ${namespace}`, watch);
  // Keeps the event loop alive (and bounds the wait) whatever happens to the watch connection.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${mode}: only ${bound.size}/${count} pods bound after 10 min`)),
      600_000,
    );
  });
  const cpuBefore = cpuByPid(cluster);
  let cpuAfter: ReturnType<typeof cpuByPid>;
  try {
    await start();
    await Promise.race([all, timeout]);
    cpuAfter = cpuByPid(cluster);
  } finally {
    finished = true;
    clearTimeout(timer);
    stop();
  }
  const first = times[0] ?? 0;
  const seconds = ((times[times.length - 1] ?? first) - first) / 1000;
  const curve: [number, number][] = times
    .map((t, i): [number, number] => [Number(((t - first) / 1000).toFixed(3)), i + 1])
    .filter((_, i) => (i + 1) % 50 === 0 || i === times.length - 1);
  // Pods per second over the span between the first and the last bind.
  return {
    mode,
    pods: count,
    seconds,
    podsPerSecond: seconds > 0 ? (count - 1) / seconds : 0,
    curve,
    cpuSeconds: cpuBetween(cpuBefore, cpuAfter),
  };
}

/**
 * Runs one step of a pass against the API server; a failure says which step, after how long, and in which pass, so
 * a dropped connection ("socket hang up") names the call that lost it instead of surfacing bare.
 */
async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await run();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`${what} failed after ${((Date.now() - started) / 1000).toFixed(1)} s: ${msg}`, { cause: err });
  }
}

/** Waits until the namespace has no pods left (kwok finalises deleted pods). */
async function waitEmpty(cluster: LoopbackCluster, namespace: string, ctx: BenchContext): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const list = await cluster.api.get<{ items: unknown[] }>(`/api/v1/namespaces/${namespace}/pods?limit=500`);
    if (list.items.length === 0) return;
    if (Date.now() > deadline) throw new Error(`pods of ${namespace} still present after 5 min`);
    ctx.progress(`waiting for the pods of ${namespace} to go`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Ends a pass: stops its scheduler and deletes its pods, so the next pass starts from the same cluster (all GPUs
 * free, one scheduler watching pods) instead of inheriting this one's load.
 */
async function endPass(cluster: LoopbackCluster, schedulerProcess: string, namespace: string, ctx: BenchContext) {
  const scheduler = cluster.state.processes.find((p) => p.name === schedulerProcess);
  if (scheduler) await stopProcess(scheduler);
  cluster.state.processes = cluster.state.processes.filter((p) => p !== scheduler);
  await step(`deleting the pods of ${namespace}`, () =>
    cluster.api.call("DELETE", `/api/v1/namespaces/${namespace}/pods?gracePeriodSeconds=0`),
  );
  await step(`waiting for the pods of ${namespace} to go`, () => waitEmpty(cluster, namespace, ctx));
}

/** Mean server-side time per extender verb (ms), from the extender's own /metrics histogram. */
async function extenderVerbLatency(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const verb of ["filter", "prioritize", "bind"]) {
    const pick = (suffix: string) =>
      [
        ...text.matchAll(
          new RegExp(`^aibrix_extender_request_duration_seconds_${suffix}\\{[^}]*verb="${verb}"[^}]*\\} (\\S+)$`, "gm"),
        ),
      ]
        .map((m) => Number(m[1]))
        .reduce((a, b) => a + b, 0);
    const count = pick("count");
    if (count > 0) out[`extender_${verb}_mean_ms`] = Number(((pick("sum") / count) * 1000).toFixed(2));
  }
  // The API server's share of a bind: the Binding POST alone.
  const post = (suffix: string) =>
    Number(new RegExp(`^aibrix_extender_binding_post_duration_seconds_${suffix} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  if (post("count") > 0) {
    out.extender_bind_apiserver_mean_ms = Number(((post("sum") / post("count")) * 1000).toFixed(2));
  }
  return out;
}

interface RoundResult {
  without: Pass;
  withExt: Pass;
  schedulerBinds: Pass;
  /** The reference: an extender that passes every node, scores none and binds. */
  noop: Pass;
  /** Pods the extender-binding pass put on L4 (SLO-infeasible) or A10G (unprofiled) nodes: 0 expected. */
  offProfile: number;
}

/** One pass: its pods' namespace, the scheduler name they ask for, and the scheduler process that serves it. */
interface PassPlan {
  mode: Pass["mode"];
  /** How progress lines name it. */
  label: string;
  namespace: string;
  schedulerName: string;
  process: string;
  start: () => Promise<void>;
  /** Runs once every pod is bound, before the pass's pods go (to see where they landed). */
  inspect?: () => Promise<void>;
}

/** Creates the pass's pods, starts its scheduler, times the binds, then stops it and deletes the pods. */
async function runPass(
  cluster: LoopbackCluster,
  plan: PassPlan,
  pods: number,
  round: number,
  say: (m: string) => void,
  ctx: BenchContext,
): Promise<Pass> {
  say(`creating ${pods} pods for the scheduler ${plan.label}`);
  await step(`creating the pods of ${plan.namespace}`, () =>
    createPods(cluster, plan.namespace, plan.schedulerName, pods),
  );
  const pass = await timeBinds(cluster, plan.namespace, pods, plan.start, ctx, plan.mode);
  pass.round = round;
  say(`${plan.label}: ${pass.podsPerSecond.toFixed(1)} pods/s`);
  await plan.inspect?.();
  await endPass(cluster, plan.process, plan.namespace, ctx);
  return pass;
}

/** One round: the four passes back to back, each alone (the previous pass's scheduler stopped, its pods deleted). */
async function runRound(
  cluster: LoopbackCluster,
  port: number,
  noopPort: number,
  pods: number,
  round: number,
  rounds: number,
  ctx: BenchContext,
): Promise<RoundResult> {
  const [plain, gpu, gpu2, noopNs] = ["plain", "gpu", "gpu2", "noop"].map((n) => `${n}-r${round}`) as [
    string,
    string,
    string,
    string,
  ];
  for (const ns of [plain, gpu, gpu2, noopNs])
    await cluster.api.create("/api/v1/namespaces", { metadata: { name: ns } });
  const say = (m: string) => ctx.progress(`round ${round}/${rounds}: ${m}`);
  const pass = (plan: PassPlan) => runPass(cluster, plan, pods, round, say, ctx);
  const extender = (bind: boolean) => ({
    urlPrefix: `http://127.0.0.1:${port}/scheduler`,
    ...(bind ? { bindVerb: "bind" } : {}),
    preemptVerb: "preempt",
    weight: 5,
  });

  const without = await pass({
    mode: "without_extender",
    label: "without extender",
    namespace: plain,
    schedulerName: "bench-plain",
    process: "kube-scheduler-plain",
    // Same profile (the chart's plugin configuration) as the GPU scheduler: only the extender differs.
    start: () => cluster.startScheduler("kube-scheduler-plain", "bench-plain", undefined, chartSchedulerProfile()),
  });

  let offProfile = 0;
  const withExt = await pass({
    mode: "with_extender",
    label: "with the extender",
    namespace: gpu,
    schedulerName: Scheduling.gpuSchedulerName,
    process: "kube-scheduler-gpu",
    start: () => cluster.startGpuScheduler(extender(true), chartSchedulerProfile()),
    // Where the extender put the pods: never on L4 (SLO-infeasible) or A10G (unprofiled).
    inspect: async () => {
      const placed = await step(`listing the pods of ${gpu}`, () =>
        cluster.api.get<{ items: { spec: { nodeName?: string } }[] }>(`/api/v1/namespaces/${gpu}/pods`),
      );
      offProfile = placed.items.filter((p) => /^(l4|a10g)-/.test(p.spec.nodeName ?? "")).length;
    },
  });

  // The same extender for filter and prioritize, but kube-scheduler binds (no bindVerb, no device pin).
  const schedulerBinds = await pass({
    mode: "with_extender_scheduler_binds",
    label: "with the extender, kube-scheduler binding",
    namespace: gpu2,
    schedulerName: Scheduling.gpuSchedulerName,
    process: "kube-scheduler-gpu",
    start: () => cluster.startGpuScheduler(extender(false), chartSchedulerProfile()),
  });

  // Reference: the same profile and extender stanza (binding), answered by an extender that decides nothing.
  const noopExtender = { urlPrefix: `http://127.0.0.1:${noopPort}/scheduler`, bindVerb: "bind", weight: 5 };
  const noop = await pass({
    mode: "with_noop_extender",
    label: "with the no-op extender",
    namespace: noopNs,
    schedulerName: "bench-noop",
    process: "kube-scheduler-noop",
    start: () => cluster.startScheduler("kube-scheduler-noop", "bench-noop", noopExtender, chartSchedulerProfile()),
  });
  return { without, withExt, schedulerBinds, noop, offProfile };
}

/**
 * CPU milliseconds per pod, median over rounds, by process role and pass: where each pass's time on the shared cores
 * went (the API server's share with and without the extender, the extender's own).
 */
function cpuPerPod(rounds: readonly RoundResult[], pods: number): Record<string, number> {
  const passes = { without_extender: "without", with_extender: "withExt", with_noop_extender: "noop" } as const;
  const out: Record<string, number> = {};
  for (const [label, key] of Object.entries(passes)) {
    const roles = new Set(rounds.flatMap((x) => Object.keys(x[key].cpuSeconds)));
    for (const r of roles) {
      const ms = median(rounds.map((x) => ((x[key].cpuSeconds[r] ?? 0) * 1000) / pods));
      out[`cpu_ms_per_pod_${r.replaceAll("-", "_")}_${label}`] = Number(ms.toFixed(2));
    }
    const total = median(
      rounds.map((x) => (Object.values(x[key].cpuSeconds).reduce((a, b) => a + b, 0) * 1000) / pods),
    );
    out[`cpu_ms_per_pod_all_${label}`] = Number(total.toFixed(2));
  }
  return out;
}

const benchmark: Benchmark = {
  async run(ctx) {
    // The machine is shared: record how busy it was, since absolute pods/s depend on it (the ratio less so).
    const loadBefore = os.loadavg()[0] ?? 0;
    const nodes = ctx.quick ? 100 : 1000;
    const pods = ctx.quick ? 200 : 2000;
    const roundCount = ctx.quick ? 1 : 3;
    ctx.progress(`starting the loopback control plane with ${nodes} kwok GPU nodes`);
    const cluster = await startCluster({ nodes: fleet(nodes), log: (l) => ctx.progress(l) });
    let extenderProc: Awaited<ReturnType<typeof spawnLogged>> | undefined;
    let noopProc: Awaited<ReturnType<typeof spawnLogged>> | undefined;
    try {
      const dir = cluster.state.stateDir;

      // The extender as its own process, as deployed: informers on nodes and pods, profiles from a file.
      const profiles = join(dir, "profiles.yaml");
      writeFileSync(profiles, PROFILES);
      const port = await freePort();
      extenderProc = spawnLogged(
        "extender",
        process.execPath,
        [
          ...EXTENDER_NODE_ARGS,
          "--import",
          "tsx",
          CLI,
          "extender",
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
        ].concat(["--kubeconfig", cluster.kubeconfig, "--profiles", profiles, "--log-level", "warn"]),
        join(dir, "logs", "extender.log"),
      );
      // Recorded with the cluster's processes, so a stop (or this process exiting) ends it too.
      cluster.state.processes.push(extenderProc);
      await waitHealthy(extenderProc, `http://127.0.0.1:${port}/readyz`, { timeoutMs: 60_000 });
      ctx.progress(`extender ready on 127.0.0.1:${port}`);
      const noopPort = await freePort();
      noopProc = spawnLogged(
        "noop-extender",
        process.execPath,
        ["--import", "tsx", NOOP_EXTENDER, String(noopPort), cluster.kubeconfig],
        join(dir, "logs", "noop-extender.log"),
      );
      cluster.state.processes.push(noopProc);
      await waitHealthy(noopProc, `http://127.0.0.1:${noopPort}/readyz`, { timeoutMs: 60_000 });

      const rounds: RoundResult[] = [];
      for (let r = 1; r <= roundCount; r++)
        rounds.push(await runRound(cluster, port, noopPort, pods, r, roundCount, ctx));
      const verbs = await extenderVerbLatency(port);
      const ratios = rounds.map((x) => x.withExt.podsPerSecond / x.without.podsPerSecond);
      const noopRatios = rounds.map((x) => x.noop.podsPerSecond / x.without.podsPerSecond);
      const med = (pick: (x: RoundResult) => number, digits = 1) => Number(median(rounds.map(pick)).toFixed(digits));

      return {
        params: {
          nodes,
          pods,
          gpusPerPod: 1,
          kubernetes: "v1.34.4",
          extender: "filter+prioritize+bind, nodeCacheCapable (names only), weight 5, separate process",
          loadAverage1mBeforeAndAfter: [Number(loadBefore.toFixed(2)), Number((os.loadavg()[0] ?? 0).toFixed(2))],
          profile: "the chart's aibrix-gpu-scheduler profile (files/kube-scheduler-config.yaml) in every pass",
          passes:
            "without extender; with extender (filter+prioritize+bind); with extender, kube-scheduler binding " +
            "(filter+prioritize); reference: a no-op extender (passes every node, scores none, binds); each pass alone: " +
            "the previous pass's scheduler stopped and its pods deleted first",
          fleet: fleet(nodes).map((g) => `${g.count}x${g.gpusPerNode} ${g.product}`),
          rounds: roundCount,
          aggregation:
            "true median over rounds of each pass's figure; the ratio per round, then its median; extender verb means over every pass that used it",
        },
        summary: {
          // The headline: our cost as a share of kube-scheduler's own throughput, which holds on any machine. Each
          // round's passes run back to back, so the ratio is taken per round and its median reported.
          extender_to_plain_ratio: Number(median(ratios).toFixed(3)),
          extender_to_plain_ratio_spread: Number(spread(ratios).toFixed(3)),
          pods_per_s_with_extender: med((x) => x.withExt.podsPerSecond),
          pods_per_s_without_extender: med((x) => x.without.podsPerSecond),
          seconds_with_extender: med((x) => x.withExt.seconds, 2),
          seconds_without_extender: med((x) => x.without.seconds, 2),
          pods_per_s_with_extender_scheduler_binds: med((x) => x.schedulerBinds.podsPerSecond),
          noop_extender_to_plain_ratio: Number(median(noopRatios).toFixed(3)),
          pods_per_s_with_noop_extender: med((x) => x.noop.podsPerSecond),
          pods_on_unprofiled_or_infeasible_gpus: Math.max(...rounds.map((x) => x.offProfile)),
          ...verbs,
          ...cpuPerPod(rounds, pods),
        },
        series: {
          passes: rounds.flatMap((x) => [x.without, x.withExt, x.schedulerBinds, x.noop]),
          extender_to_plain_ratio_by_round: ratios.map((x) => Number(x.toFixed(3))),
          noop_extender_to_plain_ratio_by_round: noopRatios.map((x) => Number(x.toFixed(3))),
        },
      };
    } finally {
      if (extenderProc) await stopProcess(extenderProc);
      if (noopProc) await stopProcess(noopProc);
      await cluster.stop();
    }
  },

  plot(result: BenchResult): TopLevelSpec {
    const passes = (result.series as { passes: Pass[] }).passes;
    const rows = passes.flatMap((p) =>
      p.curve.map(([seconds, bound]) => ({ mode: p.mode.replaceAll("_", " "), round: p.round ?? 1, seconds, bound })),
    );
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: `kube-scheduler throughput, ${String(result.params.pods)} GPU pods on ${String(result.params.nodes)} kwok nodes (target: with/without the extender >= ${TARGETS.withOverWithoutExtender.value})`,
      data: { values: rows },
      mark: "line",
      encoding: {
        x: { field: "seconds", type: "quantitative", title: "seconds since first bind" },
        y: { field: "bound", type: "quantitative", title: "pods bound" },
        color: { field: "mode", type: "nominal" },
        detail: { field: "round", type: "nominal" },
      },
    };
  },
};

export default benchmark;
