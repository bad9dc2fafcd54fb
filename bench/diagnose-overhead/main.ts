// What diagnostics costs and how fast it acts. (1) One full probe of an 8-GPU node — probe, the twelve checks, the
// assessment and the Node view — timed in CPU and wall time, with the mock backend (a gpu_mock_conf.toml) and with
// the nvidia-smi backend replaying the recorded 8x H100 outputs through a stand-in executable (our process's CPU;
// the real nvidia-smi's own time is not in it). (2) Fault to refusal on the loopback control plane: a DBE written into
// one node's mock at a random moment of the agent's probe cycle, until the extender's state refuses that node.
// Targets: probe <= 200 ms CPU; fault to refusal <= 10 s, with the product's 5 s probe interval.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { TopLevelSpec } from "vega-lite";
import { assess, runChecks } from "../../diagnostics/checks.js";
import { startDiagnostics } from "../../diagnostics/index.js";
import { kernelLogXids } from "../../diagnostics/kernel-log.js";
import { MockBackend } from "../../diagnostics/mock.js";
import { decideMarks, NO_MARKS } from "../../diagnostics/marks.js";
import { NvidiaSmiBackend } from "../../diagnostics/nvidia-smi.js";
import type { ProbeBackend } from "../../diagnostics/probe.js";
import { nodeView } from "../../diagnostics/publish.js";
import { startExtender } from "../../extender/index.js";
import { startCluster } from "../../cluster/index.js";
import { median } from "../lib/stats.js";
import type { Benchmark, BenchResult } from "../lib/result.js";
import { TARGETS } from "./readme.js";

const FIXTURE = path.resolve(import.meta.dirname, "../../test/fixtures/nvidia-smi/h100-sxm-8-healthy");
const NODE = "gpu-h100-0";
const INTERVAL_MS = 5_000; // the product default (aibrix-ts diagnose --interval 5)
const TARGET_PROBE_CPU_MS = TARGETS.probeCpuMs.value;
const TARGET_FAULT_TO_REFUSAL_MS = TARGETS.faultToRefusalMs.value;

const round2 = (x: number) => Math.round(x * 100) / 100;

/** A stand-in for nvidia-smi and dmesg that prints the recorded outputs. */
function replayTool(dir: string): string {
  const file = path.join(dir, "nvidia-smi");
  writeFileSync(
    file,
    `#!/bin/sh
case "$1" in
  -L) exec cat "${FIXTURE}/list.txt" ;;
  --query-gpu=*) exec cat "${FIXTURE}/query-gpu.csv" ;;
  --query-remapped-rows=*) exec cat "${FIXTURE}/remapped-rows.csv" ;;
  nvlink) exec cat "${FIXTURE}/nvlink-status.txt" ;;
  dmesg) exec cat "${FIXTURE}/dmesg.txt" ;;
esac
exit 2
`,
  );
  chmodSync(file, 0o755);
  return file;
}

/** Per-probe CPU and wall time (ms), averaged over `probes` probes in one round. */
async function probeRound(backend: ProbeBackend, probes: number): Promise<{ cpuMs: number; wallMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < probes; i++) {
    const results = runChecks(await backend.probe(), { expectedCards: 8 });
    nodeView(decideMarks(NO_MARKS, assess(results), Date.now(), 300_000), new Date());
  }
  const wallMs = (performance.now() - t0) / probes;
  const cpu = process.cpuUsage(cpu0);
  return { cpuMs: (cpu.user + cpu.system) / 1000 / probes, wallMs };
}

async function faultToRefusal(rounds: number, progress: (m: string) => void): Promise<number[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "aibrix-bench-diag-"));
  const mock = path.join(dir, "gpu_mock_conf.toml");
  const healthy = "[gpus]\ncard_count = 8\n";
  writeFileSync(mock, healthy);
  progress("starting the loopback control plane");
  const cluster = await startCluster({ log: progress });
  const extender = await startExtender({
    host: "127.0.0.1",
    port: 0,
    kubeconfig: cluster.kubeconfig,
    logLevel: "error",
  });
  await extender.synced;
  const agent = startDiagnostics({
    nodeName: NODE,
    mockFile: mock,
    expectedCards: 8,
    kubeconfig: cluster.kubeconfig,
    intervalMs: INTERVAL_MS,
    stableMs: 0, // recovery is not measured here; clear at once so rounds can follow each other
    refreshMs: 60_000,
    logLevel: "error",
  });
  const health = () => extender.state.node(NODE)?.health;
  const waitUntil = async (want: string, limitMs: number) => {
    const t0 = Date.now();
    while (health() !== want) {
      if (Date.now() - t0 > limitMs) throw new Error(`node ${NODE} not ${want} after ${limitMs} ms`);
      await sleep(20);
    }
    return Date.now() - t0;
  };
  const out: number[] = [];
  try {
    await waitUntil("ok", 30_000);
    for (let r = 0; r < rounds; r++) {
      await sleep(Math.random() * INTERVAL_MS); // a fault arrives at any moment of the probe cycle
      writeFileSync(mock, "[gpus]\ncard_count = 8\n[gpus.3]\ndram_ue = 1\n");
      const ms = await waitUntil("unhealthy", 30_000);
      out.push(ms);
      progress(`fault to refusal, round ${r + 1}/${rounds}: ${ms} ms`);
      writeFileSync(mock, healthy);
      await waitUntil("ok", 30_000);
    }
  } finally {
    await agent.stop();
    await extender.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const bench: Benchmark = {
  async run({ quick, progress }) {
    const rounds = quick ? 3 : 5;
    const probes = quick ? 5 : 40;
    const dir = mkdtempSync(path.join(os.tmpdir(), "aibrix-bench-probe-"));
    const mockFile = path.join(dir, "gpu_mock_conf.toml");
    // Eight cards, every field set, as a mock file from an operator would be.
    const card = (i: number) =>
      `[gpus.${i}]\ndevice_name = "NVIDIA H100 80GB HBM3"\narch = 9\nlink_gen = 5\nlink_width_current = 16\n` +
      `link_width_max = 16\nnvlink_active = [${Array(18).fill("true").join(", ")}]\ndram_ue = 0\ndram_ce = 0\n`;
    writeFileSync(mockFile, `[gpus]\ncard_count = 8\n${[0, 1, 2, 3, 4, 5, 6, 7].map(card).join("")}`);
    const tool = replayTool(dir);
    const backends: Record<string, ProbeBackend> = {
      mock: new MockBackend(mockFile),
      "nvidia-smi-replay": new NvidiaSmiBackend({
        binary: tool,
        xids: kernelLogXids({ windowMs: 900_000, command: [tool, "dmesg"] }),
      }),
    };
    const probe: Record<string, { cpuMs: number; wallMs: number }[]> = {};
    try {
      for (const [name, backend] of Object.entries(backends)) {
        await probeRound(backend, 3); // warm up
        probe[name] = [];
        for (let r = 0; r < rounds; r++) {
          const one = await probeRound(backend, probes);
          probe[name].push({ cpuMs: round2(one.cpuMs), wallMs: round2(one.wallMs) });
          progress(
            `${name} probe, round ${r + 1}/${rounds}: ${one.cpuMs.toFixed(2)} ms CPU, ${one.wallMs.toFixed(2)} ms wall`,
          );
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // --quick keeps to a minute: the cluster alone takes a third of it.
    const refusal = await faultToRefusal(quick ? 2 : rounds, progress);
    const summary: Record<string, number> = {};
    for (const [name, rs] of Object.entries(probe)) {
      const cpu = rs.map((r) => r.cpuMs);
      summary[`${name}_probe_cpu_ms`] = round2(median(cpu));
      summary[`${name}_probe_cpu_ms_min`] = Math.min(...cpu);
      summary[`${name}_probe_cpu_ms_max`] = Math.max(...cpu);
      summary[`${name}_probe_wall_ms`] = round2(median(rs.map((r) => r.wallMs)));
    }
    summary.fault_to_refusal_ms = median(refusal);
    summary.fault_to_refusal_ms_min = Math.min(...refusal);
    summary.fault_to_refusal_ms_max = Math.max(...refusal);
    summary.target_probe_cpu_ms = TARGET_PROBE_CPU_MS;
    summary.target_fault_to_refusal_ms = TARGET_FAULT_TO_REFUSAL_MS;
    summary.probe_cpu_target_met = Object.values(probe).every(
      (rs) => median(rs.map((r) => r.cpuMs)) <= TARGET_PROBE_CPU_MS,
    )
      ? 1
      : 0;
    summary.fault_to_refusal_target_met = Math.max(...refusal) <= TARGET_FAULT_TO_REFUSAL_MS ? 1 : 0;
    return {
      params: {
        gpus: 8,
        rounds,
        probesPerRound: probes,
        probeIntervalMs: INTERVAL_MS,
        stablePeriodMs: 0,
        note: "stable period 0 (product default 300 s) only so fault rounds can follow each other; recovery is not measured",
      },
      summary,
      series: { probe, faultToRefusalMs: refusal },
    };
  },

  plot(result: BenchResult): TopLevelSpec {
    const s = result.series as { probe: Record<string, { cpuMs: number }[]>; faultToRefusalMs: number[] };
    const rows = [
      ...Object.entries(s.probe).flatMap(([name, rs]) =>
        rs.map((r, i) => ({
          measure: `${name} probe CPU (ms)`,
          round: i + 1,
          value: r.cpuMs,
          target: TARGET_PROBE_CPU_MS,
        })),
      ),
      ...s.faultToRefusalMs.map((ms, i) => ({
        measure: "fault to refusal (s)",
        round: i + 1,
        value: ms / 1000,
        target: TARGET_FAULT_TO_REFUSAL_MS / 1000,
      })),
    ];
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: "Diagnostics: one 8-GPU probe, and a fault to the extender's refusal (rule: target)",
      data: { values: rows },
      facet: { column: { field: "measure", type: "nominal", title: null } },
      spec: {
        width: 160,
        height: 220,
        layer: [
          {
            mark: "bar",
            encoding: {
              x: { field: "round", type: "ordinal" },
              y: { field: "value", type: "quantitative", title: null },
            },
          },
          {
            mark: { type: "rule", color: "red" },
            encoding: { y: { aggregate: "max", field: "target", type: "quantitative" } },
          },
        ],
      },
      resolve: { scale: { y: "independent" } },
    };
  },
};

export default bench;
