import { type ReadmeEntry } from "../lib/figures.js";

const entry: ReadmeEntry = {
  context: (r) =>
    `one heavy and three light users, ${String(r.params.offeredOverCapacity)}× capacity offered for ${Number(r.params.durationMs) / 1000} s`,
  figures: [
    { key: "light_user_share_vtc", label: "light users' share with VTC" },
    { key: "light_user_share_ideal_vtc", label: "ideal" },
    { key: "light_user_share_fcfs", label: "with FCFS" },
    { key: "light_latency_p90_ms_vtc", label: "light users' latency p90 with VTC", unit: " ms", digits: 0 },
    { key: "light_latency_p90_ms_fcfs", label: "with FCFS", unit: " ms", digits: 0 },
  ],
  notes: () => ["no target declared; the service-difference bound is not checked by this benchmark"],
};
export default entry;
