// Filter + prioritize latency of the scheduler extender at fleet scale, as kube-scheduler sees it: one HTTP round
// trip per verb over loopback keep-alive, names-only (nodeCacheCapable) against full Node objects, side by side.
import http from "node:http";
import os from "node:os";
import type { TopLevelSpec } from "vega-lite";
import { pino } from "pino";
import { Diagnostics, Model, Orchestration, Scheduling } from "../../api/labels.js";
import { parseProfiles } from "../../controllers/gpu-optimizer/profiles.js";
import { RecommendationSet } from "../../controllers/gpu-optimizer/recommendation.js";
import { startExtender } from "../../extender/server.js";
import { ClusterState } from "../../extender/state.js";
import type { ExtenderFilterResult, NodeObject, PodObject } from "../../extender/wire.js";
import type { Benchmark, BenchResult } from "../lib/result.js";

const TYPES = [
  { product: "NVIDIA-H100-80GB-HBM3", gpus: 8 },
  { product: "NVIDIA-A100-SXM4-80GB", gpus: 8 },
  { product: "NVIDIA-L4", gpus: 4 },
  { product: "NVIDIA-A10G", gpus: 4 },
];

const PROFILES = `
gpus:
  H100: { memoryGiB: 80, products: [NVIDIA-H100-80GB-HBM3] }
  A100-80GB: { memoryGiB: 80, products: [NVIDIA-A100-SXM4-80GB] }
  L4: { memoryGiB: 24, products: [NVIDIA-L4] }
  A10G: { memoryGiB: 24, products: [NVIDIA-A10G] }
models:
  llama-8b:
    memoryGiB: 20
    profiles:
      - { gpu: H100, cost: 4.0, tputs: [[40, 20], [30, 10]], indexes: [[4, 8], [128, 256]] }
      - { gpu: A100-80GB, cost: 3.0, tputs: [[20, 10], [15, 5]], indexes: [[4, 8], [128, 256]] }
      - { gpu: L4, cost: 0.8, tputs: [[5, 2], [3, 1]], indexes: [[4, 8], [128, 256]] }
      - { gpu: A10G, cost: 1.0, tputs: [[0, 0], [0, 0]], indexes: [[4, 8], [128, 256]] }
`;

/** Deterministic pseudo-random numbers so every run measures the same fleet. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** A Node object of realistic size (labels, conditions, addresses, node info, a few images). */
function makeNode(i: number, now: number, rand: () => number): NodeObject {
  const t = TYPES[i % TYPES.length]!;
  const name = `gpu-node-${String(i).padStart(5, "0")}`;
  const annotations: Record<string, string> = {
    "node.alpha.kubernetes.io/ttl": "0",
    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
    [Diagnostics.nodeHealth]: rand() < 0.02 ? "unhealthy" : "healthy",
    [Diagnostics.lastReport]: new Date(now - Math.floor(rand() * 60_000)).toISOString(),
  };
  if (rand() < 0.05) annotations[Diagnostics.failingDevices] = String(Math.floor(rand() * t.gpus));
  if (annotations[Diagnostics.nodeHealth] === "unhealthy") annotations[Diagnostics.reason] = "XID 79 on GPU 1";
  const conditions = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready", "NetworkUnavailable"].map((type) => ({
    type,
    status: type === "Ready" ? "True" : "False",
    lastHeartbeatTime: new Date(now).toISOString(),
    lastTransitionTime: new Date(now - 86_400_000).toISOString(),
    reason: `Kubelet${type}`,
    message: `kubelet reports ${type} as expected`,
  }));
  const node = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      resourceVersion: String(1000 + i),
      creationTimestamp: new Date(now - 86_400_000 * 30).toISOString(),
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": `gpu-${t.gpus}x`,
        "topology.kubernetes.io/region": "us-east-1",
        "topology.kubernetes.io/zone": `us-east-1${"abc"[i % 3]}`,
        [Scheduling.gpuProductLabel]: t.product,
        "nvidia.com/gpu.count": String(t.gpus),
        "nvidia.com/gpu.memory": "81559",
        "nvidia.com/cuda.driver.major": "550",
      },
      annotations,
    },
    spec: { podCIDR: `10.${(i >> 8) & 255}.${i & 255}.0/24`, providerID: `aws:///us-east-1a/i-${i.toString(16)}` },
    status: {
      capacity: { cpu: "96", memory: "1056762Mi", pods: "110", [Scheduling.gpuResource]: String(t.gpus) },
      allocatable: { cpu: "95", memory: "1046762Mi", pods: "110", [Scheduling.gpuResource]: String(t.gpus) },
      conditions,
      addresses: [
        { type: "InternalIP", address: `10.0.${(i >> 8) & 255}.${i & 255}` },
        { type: "Hostname", address: name },
      ],
      nodeInfo: {
        machineID: "ec2a1f0c9b1e4a8c8d6f3e2b1a0c9d8e",
        kernelVersion: "5.15.0-1051-aws",
        osImage: "Ubuntu 22.04.4 LTS",
        containerRuntimeVersion: "containerd://1.7.12",
        kubeletVersion: "v1.31.2",
        kubeProxyVersion: "v1.31.2",
        operatingSystem: "linux",
        architecture: "amd64",
      },
      images: Array.from({ length: 8 }, (_, k) => ({
        names: [
          `registry.example.com/team/image-${k}@sha256:${"ab".repeat(32)}`,
          `registry.example.com/team/image-${k}:v1.${k}`,
        ],
        sizeBytes: 1_000_000_000 + k,
      })),
    },
  };
  return node as NodeObject;
}

function makePod(name: string, gpus: number, nodeName?: string, devices?: string): PodObject {
  return {
    metadata: {
      name,
      namespace: "default",
      uid: `uid-${name}`,
      labels: { [Model.name]: "llama-8b", [Orchestration.podTemplateHash]: "7c9d5f", app: "llama-8b" },
      annotations: devices ? { [Scheduling.assignedDevices]: devices } : {},
      ownerReferences: [{ kind: "ReplicaSet", name: "llama-8b-7c9d5f", controller: true }],
    },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      schedulerName: Scheduling.gpuSchedulerName,
      containers: [
        {
          name: "vllm",
          resources: {
            requests: { cpu: "8", memory: "64Gi", [Scheduling.gpuResource]: String(gpus) },
            limits: { [Scheduling.gpuResource]: String(gpus) },
          },
        },
      ],
    },
    status: { phase: nodeName ? "Running" : "Pending" },
  };
}

interface Fleet {
  state: ClusterState;
  nodes: NodeObject[];
}

/** Nodes with about half their GPUs taken by pinned pods of the same deployment. */
function buildFleet(n: number, now: number): Fleet {
  const rand = rng(n);
  const state = new ClusterState();
  const nodes: NodeObject[] = [];
  for (let i = 0; i < n; i++) {
    const node = makeNode(i, now, rand);
    nodes.push(node);
    state.upsertNode(node);
    const gpus = Number(node.status!.allocatable![Scheduling.gpuResource]);
    const used = Math.floor(rand() * (gpus + 1));
    for (let d = 0; d < used; d++)
      state.upsertPod(makePod(`${node.metadata!.name}-p${d}`, 1, node.metadata!.name, String(d)));
  }
  return { state, nodes };
}

function post(agent: http.Agent, port: number, path: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length },
      },
      (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => resolve(bytes));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function postText(port: number, path: string, body: Buffer): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", body });
  return res.text();
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

interface Cell {
  nodes: number;
  mode: "names" | "full";
  iterations: number;
  requestBytes: number;
  /** Nodes that passed the filter: what prioritize is sent. */
  feasibleNodes: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  filter_p99_ms: number;
  prioritize_p99_ms: number;
  /** CPU time (user + system, client and server together) per cycle: what the work costs without CPU contention. */
  cpu_p50_ms: number;
  cpu_p99_ms: number;
  /** Extender processing only (body received to answer written), both verbs: no transfer, no client. */
  server_p50_ms: number;
  server_p99_ms: number;
}

const sortNum = (xs: number[]) => xs.sort((a, b) => a - b);
const round = (x: number) => Math.round(x * 1000) / 1000;

const benchmark: Benchmark = {
  async run(ctx) {
    const sizes = [1000, 5000];
    const iterations = { names: ctx.quick ? 150 : 1000, full: ctx.quick ? 10 : 60 };
    const warmup = { names: 30, full: 3 };
    const now = Date.now();
    const loadAtStart = os.loadavg().map(round);
    const cells: Cell[] = [];
    const recommendations = new RecommendationSet({
      recommendations: [
        { namespace: "default", deployment: "llama-8b", recommended: { H100: 400, "A100-80GB": 900, L4: 2000 } },
      ],
    });
    for (const n of sizes) {
      ctx.progress(`building a ${n}-node fleet`);
      const fleet = buildFleet(n, now);
      let serverSeconds = 0;
      const ext = await startExtender({
        onDecision: (_verb, seconds) => (serverSeconds += seconds),
        state: fleet.state,
        profiles: parseProfiles(PROFILES),
        recommendations,
        logger: pino({ level: "silent" }),
      });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const pod = makePod("llama-8b-7c9d5f-new", 2);
      const names = fleet.nodes.map((x) => x.metadata!.name!);
      const bodies = {
        names: Buffer.from(JSON.stringify({ Pod: pod, Nodes: null, NodeNames: names })),
        full: Buffer.from(JSON.stringify({ Pod: pod, Nodes: { metadata: {}, items: fleet.nodes }, NodeNames: null })),
      };
      for (const mode of ["names", "full"] as const) {
        const body = bodies[mode];
        // kube-scheduler sends prioritize only the nodes that passed the filter, in the filter's order.
        const filtered = JSON.parse(await postText(ext.port, "/scheduler/filter", body)) as ExtenderFilterResult;
        const prioBody = Buffer.from(
          JSON.stringify(
            mode === "names"
              ? { Pod: pod, Nodes: null, NodeNames: filtered.NodeNames }
              : { Pod: pod, Nodes: filtered.Nodes, NodeNames: null },
          ),
        );
        const feasible = filtered.NodeNames?.length ?? filtered.Nodes?.items.length ?? 0;
        const cycle: number[] = [];
        const filt: number[] = [];
        const prio: number[] = [];
        const cpu: number[] = [];
        const server: number[] = [];
        for (let i = 0; i < warmup[mode] + iterations[mode]; i++) {
          const c0 = process.cpuUsage();
          serverSeconds = 0;
          const t0 = process.hrtime.bigint();
          await post(agent, ext.port, "/scheduler/filter", body);
          const t1 = process.hrtime.bigint();
          await post(agent, ext.port, "/scheduler/prioritize", prioBody);
          const t2 = process.hrtime.bigint();
          const c = process.cpuUsage(c0);
          if (i < warmup[mode]) continue;
          cpu.push((c.user + c.system) / 1000);
          server.push(serverSeconds * 1000);
          filt.push(Number(t1 - t0) / 1e6);
          prio.push(Number(t2 - t1) / 1e6);
          cycle.push(Number(t2 - t0) / 1e6);
        }
        const s = sortNum([...cycle]);
        const cell: Cell = {
          nodes: n,
          mode,
          iterations: iterations[mode],
          requestBytes: body.length,
          feasibleNodes: feasible,
          p50_ms: round(quantile(s, 0.5)),
          p90_ms: round(quantile(s, 0.9)),
          p99_ms: round(quantile(s, 0.99)),
          max_ms: round(s[s.length - 1]!),
          filter_p99_ms: round(quantile(sortNum(filt), 0.99)),
          prioritize_p99_ms: round(quantile(sortNum(prio), 0.99)),
          cpu_p50_ms: round(quantile(sortNum(cpu), 0.5)),
          cpu_p99_ms: round(quantile(cpu, 0.99)),
          server_p50_ms: round(quantile(sortNum(server), 0.5)),
          server_p99_ms: round(quantile(server, 0.99)),
        };
        cells.push(cell);
        ctx.progress(
          `${n} nodes, ${mode}: p50 ${cell.p50_ms} ms, p99 ${cell.p99_ms} ms, cpu p50 ${cell.cpu_p50_ms} ms ` +
            `p99 ${cell.cpu_p99_ms} ms, server p50 ${cell.server_p50_ms} ms p99 ${cell.server_p99_ms} ms ` +
            `(${body.length} request bytes)`,
        );
      }
      agent.destroy();
      await ext.close();
    }
    const cell = (n: number, mode: "names" | "full") => cells.find((c) => c.nodes === n && c.mode === mode)!;
    return {
      params: {
        sizes,
        iterations,
        warmup,
        gpuTypes: TYPES.map((t) => `${t.product} x${t.gpus}`),
        pod: "llama-8b, 2 GPUs, deployment with a recommended mix",
        measured:
          "filter over every node, then prioritize over the nodes that passed, each one HTTP POST over loopback " +
          "keep-alive, client in the same process",
        // This machine is shared: the load average says how contended the CPU was while measuring.
        loadAverageAtStart: loadAtStart,
        loadAverageAtEnd: os.loadavg().map(round),
        ratioDefinition: "full_over_names_ratio = median cycle time with full Node objects / names-only, at 5000 nodes",
      },
      summary: {
        p99_ms_1000_nodes: cell(1000, "names").p99_ms,
        p99_ms_5000_nodes: cell(5000, "names").p99_ms,
        full_over_names_ratio: round(cell(5000, "full").p50_ms / cell(5000, "names").p50_ms),
        p50_ms_5000_nodes: cell(5000, "names").p50_ms,
        p99_ms_5000_nodes_full: cell(5000, "full").p99_ms,
        p99_ms_1000_nodes_full: cell(1000, "full").p99_ms,
        cpu_p99_ms_1000_nodes: cell(1000, "names").cpu_p99_ms,
        cpu_p99_ms_5000_nodes: cell(5000, "names").cpu_p99_ms,
        server_p99_ms_1000_nodes: cell(1000, "names").server_p99_ms,
        server_p99_ms_5000_nodes: cell(5000, "names").server_p99_ms,
        load_average_1m: loadAtStart[0]!,
      },
      series: { cells },
    };
  },

  plot(result: BenchResult): TopLevelSpec {
    const cells = (result.series as { cells: Cell[] }).cells;
    const rows = cells.flatMap((c) => [
      { nodes: `${c.nodes} nodes`, mode: c.mode === "names" ? "names-only" : "full Nodes", stat: "p50", ms: c.p50_ms },
      { nodes: `${c.nodes} nodes`, mode: c.mode === "names" ? "names-only" : "full Nodes", stat: "p99", ms: c.p99_ms },
    ]);
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: "Extender filter + prioritize latency (ms, log scale; target p99 <= 5 ms names-only at 5000 nodes)",
      data: { values: rows },
      mark: "bar",
      encoding: {
        column: { field: "nodes", type: "nominal", title: null },
        x: { field: "mode", type: "nominal", title: null },
        xOffset: { field: "stat" },
        y: { field: "ms", type: "quantitative", scale: { type: "log" }, title: "milliseconds" },
        color: { field: "stat", type: "nominal" },
      },
    };
  },
};

export default benchmark;
