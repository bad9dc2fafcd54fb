import { atMost, range, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { probeCpuMs: atMost(200), faultToRefusalMs: atMost(10_000) };

const entry: ReadmeEntry = {
  context: (r) =>
    `one ${String(r.params.gpus)}-GPU probe, ${String(r.params.rounds)} rounds; faults at random moments of the ${Number(r.params.probeIntervalMs) / 1000} s probe cycle`,
  figures: [
    { key: "mock_probe_cpu_ms", label: "probe CPU with the mock", unit: " ms", digits: 1, target: TARGETS.probeCpuMs },
    {
      key: "nvidia-smi-replay_probe_cpu_ms",
      label: "replaying nvidia-smi outputs",
      unit: " ms",
      digits: 1,
      target: TARGETS.probeCpuMs,
    },
    { key: "fault_to_refusal_ms", label: "fault to the extender's refusal, median", unit: " ms", digits: 0 },
    { key: "fault_to_refusal_ms_max", label: "worst", unit: " ms", digits: 0, target: TARGETS.faultToRefusalMs },
  ],
  notes: (r) => [
    `fault to refusal over all faults ${range([r.summary.fault_to_refusal_ms_min, r.summary.fault_to_refusal_ms_max], 0, " ms")}`,
  ],
};
export default entry;
