// vtc-basic: spread users over the endpoints by how many tokens they used recently. A user's window count, divided by
// an adaptive bucket size, gives a position among the candidates (light users toward the first, heavy users toward the
// last); the engine's load pulls requests away from busy endpoints; a small jitter breaks ties. Lowest score wins.
// Without a `user` header there is no opinion (random).
import { Type } from "@sinclair/typebox";
import { scorerPlugin } from "../plugin.js";
import type { Candidate, PickEnv, PickRequest, Scorer } from "../types.js";
import type { UserTokenWindow } from "../user-token-window.js";

export interface VtcBasicOptions {
  /** Bucket size floor, and the min user count assumed when no user has tokens yet. */
  minTokens: number;
  /** Max user count assumed when no user has tokens yet. */
  maxTokens: number;
  /** Running requests at which the load term reaches 1. */
  maxPodLoad: number;
  inputTokenWeight: number;
  outputTokenWeight: number;
  /** Jitter added to every score: U(0, jitter). */
  jitter: number;
}

export const defaultVtcBasicOptions: VtcBasicOptions = {
  minTokens: 1000,
  maxTokens: 8000,
  maxPodLoad: 100,
  inputTokenWeight: 1,
  outputTokenWeight: 2,
  jitter: 0.1,
};

/** Input tokens ≈ characters / 4; output ≈ 1.5 × input (no response yet to count). */
export function estimateTokens(promptText: string): { input: number; output: number } {
  const input = Math.ceil(promptText.length / 4);
  return { input, output: Math.ceil(input * 1.5) };
}

function userOf(req: PickRequest): string | undefined {
  const u = req.headers["user"];
  return typeof u === "string" && u !== "" ? u : undefined;
}

/** Engine running requests when the scrape is fresh, else the router's own in-flight count. */
function loadOf(ep: Candidate, env: PickEnv): number {
  const running = ep.metricsFresh(env.now, env.staleAfterMs) ? ep.metrics.running : undefined;
  return running ?? ep.inFlight;
}

/** Where a user lands among `n` candidates: tokens / bucket, clamped to n − 1. */
export function vtcPosition(userTokens: number, min: number, max: number, n: number, o: VtcBasicOptions): number {
  const bucket = Math.max(o.minTokens, (min + max) / 2);
  return Math.min(userTokens / bucket, n - 1);
}

export function vtcBasicScorer(window: UserTokenWindow, opts: Partial<VtcBasicOptions> = {}): Scorer {
  const o = { ...defaultVtcBasicOptions, ...opts };
  return {
    name: "vtc-basic",
    score(req, cands, out, env) {
      const user = userOf(req);
      const n = cands.length;
      if (!user) {
        out.fill(NaN, 0, n);
        return;
      }
      const range = window.minMax(env.now);
      const norm = vtcPosition(window.get(user, env.now), range.min ?? o.minTokens, range.max ?? o.maxTokens, n, o);
      // Positions follow a stable order (endpoint id), so a user keeps landing on the same endpoints across
      // requests and across replicas, whatever order discovery listed them in.
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
        cands[a]!.id < cands[b]!.id ? -1 : cands[a]!.id > cands[b]!.id ? 1 : 0,
      );
      for (let rank = 0; rank < n; rank++) {
        const i = order[rank]!;
        const load = Math.min(loadOf(cands[i]!, env) / o.maxPodLoad, 1);
        out[i] = -(Math.abs(rank - norm) + load + Math.random() * o.jitter);
      }
    },
    onPicked(req, _ep, env) {
      const user = userOf(req);
      // A retry is the same request on another endpoint: the user was charged when it was first placed.
      if (!user || req.attempt) return;
      const t = estimateTokens(req.promptText);
      window.add(user, t.input * o.inputTokenWeight + t.output * o.outputTokenWeight, env.now);
    },
  };
}

const VtcBasicParameters = Type.Object(
  {
    minTokens: Type.Optional(Type.Number({ minimum: 1 })),
    maxTokens: Type.Optional(Type.Number({ minimum: 1 })),
    maxPodLoad: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    inputTokenWeight: Type.Optional(Type.Number({ minimum: 0 })),
    outputTokenWeight: Type.Optional(Type.Number({ minimum: 0 })),
    jitter: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const plugin = scorerPlugin({
  name: "vtc-basic",
  summary: "spreads users over endpoints by their recent token use (the user header), away from busy engines",
  parameters: VtcBasicParameters,
  create: (params, ctx) => vtcBasicScorer(ctx.userTokens, params),
});
