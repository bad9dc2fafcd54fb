import { atMost, range, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { secondsToReady: atMost(30), engineCallsPerAdapter: atMost(3) };

const entry: ReadmeEntry = {
  context: (r) =>
    `${String(r.params.adapters)} one-replica ModelAdapters over ${String(r.params.pods)} engine-backed pods, ${String(r.params.rounds)} rounds`,
  figures: [
    { key: "seconds_to_ready_100", label: "all Running after apply", unit: " s", target: TARGETS.secondsToReady },
    {
      key: "engine_calls_per_adapter",
      label: "engine calls per adapter",
      digits: 1,
      target: TARGETS.engineCallsPerAdapter,
    },
    { key: "api_requests_per_adapter", label: "API requests per adapter", digits: 1 },
    { key: "controller_cpu_seconds", label: "controller CPU per round", unit: " s", digits: 1 },
    { key: "extra_copies_max", label: "adapters held twice", digits: 0 },
  ],
  notes: (r) => [`rounds ${range([r.summary.seconds_to_ready_min, r.summary.seconds_to_ready_max], 2, " s")}`],
};
export default entry;
