// From every round of every target to the figures a result file carries: true medians over rounds, each router's
// added latency over going direct, and our router against the peers.
import { round } from "../router-common/loadgen.js";
import { median, spread } from "../lib/stats.js";
import type { TargetRound } from "./measure.js";

export type TargetResult = Omit<TargetRound, "errors"> & { errors: number };

const MEDIAN_KEYS = [
  "p50_ms",
  "p99_ms",
  "stream_p50_ms",
  "stream_p99_ms",
  "long_p50_ms",
  "long_p99_ms",
  "cold_p50_ms",
  "cold_p99_ms",
  "max_rps",
  "cpu_us_per_req",
  "cpu_us_per_req_long",
  "cpu_us_per_req_closed",
  "cpu_us_per_req_cold",
] as const;
type MedianKey = (typeof MEDIAN_KEYS)[number];

function medianOf(rs: readonly TargetRound[], key: MedianKey): number | undefined {
  const xs = rs.map((r) => r[key]).filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  return xs.length === 0 ? undefined : round(median(xs), key.startsWith("cpu") ? 1 : 3);
}

function medianResult(rs: readonly TargetRound[]): TargetResult {
  const out: Record<string, unknown> = { target: rs[0]!.target, errors: rs.reduce((n, x) => n + x.errors, 0) };
  for (const k of MEDIAN_KEYS) {
    const m = medianOf(rs, k);
    if (m !== undefined) out[k] = m;
  }
  return out as unknown as TargetResult;
}

export interface Added {
  added_p50_ms: number;
  added_p99_ms: number;
  added_stream_p50_ms: number;
  added_stream_p99_ms: number;
  added_long_p50_ms: number;
  added_long_p99_ms: number;
  added_cold_p50_ms: number;
  added_cold_p99_ms: number;
  cpu_us_per_req?: number;
  cpu_us_per_req_long?: number;
  cpu_us_per_req_cold?: number;
  req_per_cpu_s?: number;
}

function addedOver(direct: TargetResult, r: TargetResult): Added {
  return {
    added_p50_ms: round(r.p50_ms - direct.p50_ms),
    added_p99_ms: round(r.p99_ms - direct.p99_ms),
    added_stream_p50_ms: round(r.stream_p50_ms - direct.stream_p50_ms),
    added_stream_p99_ms: round(r.stream_p99_ms - direct.stream_p99_ms),
    added_long_p50_ms: round(r.long_p50_ms - direct.long_p50_ms),
    added_long_p99_ms: round(r.long_p99_ms - direct.long_p99_ms),
    // Over the engines' steady figures: direct's own first window measures the load generator's connections opening,
    // and the engines were long warm by then; a router's first window is about the router.
    added_cold_p50_ms: round(r.cold_p50_ms - direct.p50_ms),
    added_cold_p99_ms: round(r.cold_p99_ms - direct.p99_ms),
    ...(r.cpu_us_per_req_cold !== undefined ? { cpu_us_per_req_cold: r.cpu_us_per_req_cold } : {}),
    ...(r.cpu_us_per_req !== undefined ? { cpu_us_per_req: r.cpu_us_per_req } : {}),
    ...(r.cpu_us_per_req_long !== undefined ? { cpu_us_per_req_long: r.cpu_us_per_req_long } : {}),
    // Requests one router CPU-second serves at saturation: what a core buys, whatever the threading.
    ...(r.cpu_us_per_req_closed ? { req_per_cpu_s: Math.round(1e6 / r.cpu_us_per_req_closed) } : {}),
  };
}

/** "prefix-cache" → "_prefix_cache"; least-request, the load-only strategy compared with the peers', has none. */
export const strategySuffix = (s: string): string => (s === "least-request" ? "" : `_${s.replace(/-/g, "_")}`);

const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? round(a / b) : undefined;

export function summarise(all: ReadonlyMap<string, TargetRound[]>, strategies: readonly string[]) {
  const results = [...all.values()].map(medianResult);
  const direct = results.find((x) => x.target === "direct");
  if (!direct) throw new Error("router-overhead: no direct-to-engine round to measure added latency against");
  const addedByTarget = Object.fromEntries(
    results.filter((r) => r !== direct).map((r) => [r.target, addedOver(direct, r)]),
  );
  const ours = (s: string): Added | undefined => addedByTarget[`aibrix-ts (${s})`];
  const peers = Object.entries(addedByTarget).filter(([t]) => !t.startsWith("aibrix-ts"));
  const peer = (name: string) => peers.find(([t]) => t.startsWith(`${name} `));
  const result = (t: string) => results.find((r) => r.target === t);
  const lr = ours("least-request");
  const summary: Record<string, number | undefined> = {};
  for (const s of strategies) {
    const a = ours(s);
    if (!a) continue;
    const sfx = strategySuffix(s);
    for (const k of ["added_p50_ms", "added_p99_ms", "added_long_p50_ms", "added_long_p99_ms"] as const)
      summary[`${k}${sfx}`] = a[k];
    summary[`cpu_us_per_req${sfx}`] = a.cpu_us_per_req;
    summary[`cpu_us_per_req_long${sfx}`] = a.cpu_us_per_req_long;
  }
  const bestPeer = (k: "added_p99_ms" | "added_long_p99_ms" | "added_cold_p99_ms") =>
    peers.length === 0 ? undefined : Math.min(...peers.map(([, a]) => a[k]));
  Object.assign(summary, {
    added_stream_p50_ms: lr?.added_stream_p50_ms,
    added_stream_p99_ms: lr?.added_stream_p99_ms,
    p99_x_best_peer: ratio(lr?.added_p99_ms, bestPeer("added_p99_ms")),
    long_p99_x_best_peer: ratio(lr?.added_long_p99_ms, bestPeer("added_long_p99_ms")),
    added_cold_p50_ms: lr?.added_cold_p50_ms,
    added_cold_p99_ms: lr?.added_cold_p99_ms,
    cpu_us_per_req_cold: lr?.cpu_us_per_req_cold,
    best_peer_added_cold_p99_ms: bestPeer("added_cold_p99_ms"),
    max_rps: result("aibrix-ts (least-request)")?.max_rps,
    req_per_cpu_s: lr?.req_per_cpu_s,
  });
  for (const name of ["sglang-router", "vllm-router"]) {
    const p = peer(name);
    const key = name.replace(/-/g, "_");
    summary[`rps_x_${key}`] = ratio(
      result("aibrix-ts (least-request)")?.max_rps,
      p ? result(p[0])?.max_rps : undefined,
    );
    summary[`req_per_cpu_s_x_${key}`] = ratio(lr?.req_per_cpu_s, p?.[1].req_per_cpu_s);
  }
  const spreadOf = (t: string, k: "p50_ms" | "p99_ms" | "long_p99_ms" | "max_rps") =>
    round(spread((all.get(t) ?? []).map((x) => x[k])));
  summary.p99_ms_spread = spreadOf("aibrix-ts (least-request)", "p99_ms");
  summary.max_rps_spread = spreadOf("aibrix-ts (least-request)", "max_rps");
  const spreads = Object.fromEntries(
    [...all.keys()].map((t) => [
      t,
      {
        p50_ms: spreadOf(t, "p50_ms"),
        p99_ms: spreadOf(t, "p99_ms"),
        long_p99_ms: spreadOf(t, "long_p99_ms"),
        max_rps: spreadOf(t, "max_rps"),
      },
    ]),
  );
  const defined = Object.fromEntries(Object.entries(summary).filter(([, v]) => v !== undefined)) as Record<
    string,
    number
  >;
  return { results, summary: defined, addedByTarget, spread: spreads };
}
