import { expect } from "chai";
import { ModelTokenizer } from "../../../api/model-tokenizer.js";
import { SIMULATOR_TOKENIZER_DIR } from "../../../simulator/index.js";
import { TokenText } from "../../../bench/lib/token-text.js";
import type { Outcome } from "../../../bench/routing-quality/drive.js";
import { windowStats, type PointStats } from "../../../bench/routing-quality/measure.js";
import { PREFIX_CACHE, SGLANG, WORKLOADS } from "../../../bench/routing-quality/plan.js";
import type { BenchResult } from "../../../bench/lib/result.js";
import routingQualityReadme from "../../../bench/routing-quality/readme.js";
import { summarise } from "../../../bench/routing-quality/summary.js";
import { nextTurn, planRequests } from "../../../bench/routing-quality/workloads.js";

describe("routing-quality workloads", () => {
  let text: TokenText;
  before(async () => {
    text = new TokenText(await ModelTokenizer.load(SIMULATOR_TOKENIZER_DIR));
  });

  it("sizes every prompt in the engines' own tokens, as the plan states (the rates are set against that capacity)", () => {
    for (const w of WORKLOADS) {
      const plan = planRequests("m", w, w.rates[0]!, 20, 7, text);
      expect(plan.length, w.name).to.be.greaterThan(2);
      for (const req of plan) {
        if (req.kind === "unique") {
          expect(text.count(req.body.prompt as string) - w.unique!.promptTokens, w.name).to.be.within(0, 2);
        } else if (req.kind === "shared") {
          const s = w.shared!;
          // "tenant N system:", " question:" and the beginning-of-sequence token: 14 at most.
          expect(text.count(req.body.prompt as string) - s.prefixTokens - s.questionTokens, w.name).to.be.within(0, 16);
        } else {
          const c = w.conversation!;
          const [system, user] = req.body.messages as { content: string }[];
          expect(text.count(system!.content) - c.systemTokens, w.name).to.be.within(0, 12);
          expect(text.count(user!.content) - c.userTokens, w.name).to.be.within(-1, 2);
        }
      }
    }
  });

  it("adds each later turn of a conversation at the planned size, the same for every router of a round", () => {
    const w = WORKLOADS.find((x) => x.conversation)!;
    const first = planRequests("m", w, w.rates[0]!, 20, 7, text).find((r) => r.kind === "conversation")!;
    const second = nextTurn(first, " the and", text)!;
    const again = nextTurn(first, " the and", text)!;
    expect(second.body).to.deep.equal(again.body);
    const messages = second.body.messages as { role: string; content: string }[];
    expect(messages.map((m) => m.role)).to.deep.equal(["system", "user", "assistant", "user"]);
    expect(text.count(messages[3]!.content) - w.conversation!.userTokens).to.be.within(-1, 2);
  });
});

describe("routing-quality points", () => {
  it("gives each kind of request's TTFT p90 over the measured window, failed requests left out", () => {
    const outcome = (sentAt: number, kind: Outcome["kind"], ttft: number, ok = true): Outcome => ({
      sentAt,
      kind,
      ok,
      ttft,
      e2e: ttft + 1,
      tokens: 2,
      text: "",
    });
    const outcomes = [
      ...Array.from({ length: 10 }, (_, i) => outcome(10 + i, "shared", 0.1 * (i + 1))),
      ...Array.from({ length: 10 }, (_, i) => outcome(10 + i, "unique", 1 + i)),
      outcome(5, "unique", 100), // sent during the warm-up
      outcome(12, "conversation", 3),
      outcome(13, "conversation", 0, false),
    ];
    const stats = windowStats(outcomes, 10, 60);
    expect(stats.requests).to.equal(22);
    expect(stats.errors).to.equal(1);
    expect(stats.ttft_p90_s_by_kind).to.deep.equal({ shared: 0.9, unique: 9, conversation: 3 });
  });
});

describe("routing-quality README entry", () => {
  it("lists each missed point's TTFT p90 round by round, ours then sglang-router's, and no point that was met", () => {
    const curve = (router: string, rate: number, byRound: number[]) => ({
      workload: "mixed",
      router,
      rate,
      ttft_p90_s_by_round: byRound,
    });
    const comparison = (rate: number, met: boolean) => ({
      workload: "mixed",
      rate,
      ours_ttft_p90_s: 1,
      other_ttft_p90_s: 1,
      met,
    });
    const r: BenchResult = {
      name: "routing-quality",
      date: "2026-12-05T00:00:00.000Z",
      machine: {
        cpus: 2,
        cpuModel: "x",
        node: "v20",
        platform: "linux",
        cpuReferenceMs: [9, 9],
        loadAverage1m: [0, 0],
      },
      params: { workloads: [{ name: "mixed", rates: [3, 5] }], rounds: 3, speedup: 12 },
      summary: {},
      series: {
        comparisons: { prefix_cache_vs_sglang_router: [comparison(3, false), comparison(5, true)] },
        curves: [
          curve(PREFIX_CACHE, 3, [0.834, 0.8, 1.54]),
          curve(SGLANG, 3, [0.72, 0.58, 1.5]),
          curve(PREFIX_CACHE, 5, [14, 12, 18]),
          curve(SGLANG, 5, [15, 13, 19]),
        ],
      },
    };
    const notes = routingQualityReadme.notes!(r);
    const byRound = notes.filter((n) => n.startsWith("missed points' TTFT p90 by round"));
    expect(byRound).to.deep.equal([
      "missed points' TTFT p90 by round (s; prefix-cache against sglang-router): mixed 3/s 0.83/0.80/1.54 against 0.72/0.58/1.50",
    ]);
  });
});

describe("routing-quality summary", () => {
  it("states each router's own delay as TTFT p90 less p50 at shared-prefix's lightest rate, in wall-clock ms", () => {
    const point = (router: string, rate: number, p50: number, p90: number, round: number): PointStats => ({
      workload: "shared-prefix",
      router,
      round,
      rate,
      requests: 100,
      errors: 0,
      ttft_p50_s: p50,
      ttft_p90_s: p90,
      ttft_p99_s: p90,
      itl_ms: 10,
      output_tok_s: 1,
      prefix_hit_rate: 0.9,
      router_cpu_ms_per_req: 1,
      router_cpu_share: 0.1,
      loadgen_cpu_share: 0.1,
      engines_cpu_share: 0.1,
      wall_s: 5,
      load_average_1m: 0,
    });
    const shared = WORKLOADS.filter((w) => w.name === "shared-prefix");
    const lightest = Math.min(...shared[0]!.rates);
    const points = [1, 2, 3].flatMap((round) => [
      point(PREFIX_CACHE, lightest, 0.1, 0.124, round),
      point(SGLANG, lightest, 0.1, 0.1 + 0.036 * 12, round),
      // A heavier rate does not count.
      point(SGLANG, lightest * 4, 1, 9, round),
    ]);
    const { summary } = summarise(points, shared, 12);
    expect(summary.light_tail_wall_ms_prefix_cache).to.equal(2);
    expect(summary.light_tail_wall_ms_sglang_router).to.equal(36);
    expect(summary.light_tail_wall_ms_random).to.be.NaN;
  });
});
