import { atMost, numberAt, type ReadmeEntry } from "../lib/figures.js";

export const TARGETS = { solveP99Ms: atMost(50) };

const entry: ReadmeEntry = {
  context: (r) =>
    `the GPU-mix MILP, ${String(r.params.solver)}, ${String(r.params.gpuTypes)} GPU types × ${String(r.params.buckets)} buckets, ${String(r.params.rounds)} rounds of ${String(r.params.solvesPerRound)} solves`,
  figures: [
    { key: "solve_ms_p50", label: "p50", unit: " ms", digits: 1 },
    { key: "solve_ms_p99", label: "p99", unit: " ms", digits: 1, target: TARGETS.solveP99Ms },
    { key: "solves_not_proven_optimal", label: "solves not proven optimal", digits: 0 },
  ],
  notes: (r) => {
    const lo = numberAt(r.summary, "solve_ms_p99_min");
    const hi = numberAt(r.summary, "solve_ms_p99_max");
    return lo !== undefined && hi !== undefined ? [`round p99s ${lo.toFixed(1)}–${hi.toFixed(1)} ms`] : [];
  },
};
export default entry;
