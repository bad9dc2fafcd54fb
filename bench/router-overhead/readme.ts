import {
  atLeast,
  atMost,
  formatNumber,
  numberAt,
  routerSetupNotes,
  verdict,
  type ReadmeEntry,
} from "../lib/figures.js";

export const TARGETS = {
  addedP50Ms: atMost(0.3),
  addedP99Ms: atMost(1),
  maxRps: atLeast(10_000),
  rpsOverEachPeer: atLeast(1.2),
  /** Our added p99 over the best peer's: no worse. */
  p99OverBestPeer: atMost(1),
};

function perRouter(params: Record<string, unknown>): string[] {
  const by = params.added_by_target;
  if (by === null || typeof by !== "object") return ["per-router added latency not in the result file"];
  const rows = Object.entries(by as Record<string, unknown>).map(([router, figs]) => {
    const p50 = numberAt(figs, "added_p50_ms");
    const p99 = numberAt(figs, "added_p99_ms");
    return { router, p50, p99 };
  });
  const text = rows.map(
    (x) =>
      `${x.router} ${x.p50 === undefined ? "?" : formatNumber(x.p50, 3)}/${x.p99 === undefined ? "?" : formatNumber(x.p99, 3)} ms`,
  );
  const notes = [`added p50/p99 by router: ${text.join(", ")}`];
  const ours = rows.find((x) => x.router === "aibrix-ts")?.p99;
  const peers = rows.filter((x) => x.router !== "aibrix-ts" && x.p99 !== undefined).map((x) => x.p99!);
  if (ours !== undefined && peers.length > 0) {
    const ratio = ours / Math.min(...peers);
    notes.push(
      `our added p99 over the best peer's ${formatNumber(ratio, 2)}× ${verdict(ratio, TARGETS.p99OverBestPeer, "×")}`,
    );
    if (peers.every((p) => p < ours)) notes.push("our added p99 is the worst of the routers measured");
  }
  return notes;
}

const entry: ReadmeEntry = {
  context: (r) =>
    `${String(r.params.engines)}; ours ${String(r.params.our_strategy)}, peers ${String(r.params.peer_policy)}; ${String(r.params.rate_rps)} req/s open loop, ${String(r.params.rounds)} rounds`,
  figures: [
    { key: "added_p50_ms", label: "added p50", unit: " ms", digits: 3, target: TARGETS.addedP50Ms },
    { key: "added_p99_ms", label: "added p99", unit: " ms", digits: 3, target: TARGETS.addedP99Ms },
    { key: "p99_ms_spread", label: "our p99 spread over rounds", unit: " ms", digits: 3 },
    { key: "added_stream_p99_ms", label: "streaming added p99", unit: " ms", digits: 3 },
    { key: "max_rps", label: "closed-loop req/s", digits: 0, target: TARGETS.maxRps },
    { key: "rps_x_sglang_router", label: "× sglang-router's", unit: "×", target: TARGETS.rpsOverEachPeer },
    { key: "rps_x_vllm_router", label: "× vllm-router's", unit: "×", target: TARGETS.rpsOverEachPeer },
  ],
  notes: (r) => [
    ...perRouter(r.params),
    ...(Number(r.params.rounds) < 3 ? [`${String(r.params.rounds)} rounds: fewer than the three a median needs`] : []),
    "req/s is for the whole machine, not per core",
    ...routerSetupNotes(r.params),
  ],
};
export default entry;
