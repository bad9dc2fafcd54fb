// Request plans for routing quality, built from a workload of the plan (plan.ts) at one offered rate. Text is sized
// in the engines' own tokens (bench/lib/token-text.ts), so the token counts the plan states, and the capacity its
// rates are set against, are the ones the engines see. Deterministic per seed: every router of a round gets the same
// requests.
import { rng, type TokenText } from "../lib/token-text.js";
import type { ConversationMix, WorkloadPlan } from "./plan.js";

export interface PlannedRequest {
  /** Seconds after the point's start (simulated time) when the request is sent. */
  at: number;
  path: "/v1/completions" | "/v1/chat/completions";
  body: Record<string, unknown>;
  kind: "shared" | "unique" | "conversation";
  /** For conversations: the shape later turns follow, and the turn (0 = first). */
  conversation?: ConversationMix;
  turn?: number;
  /** Seed of the next turn's user text. */
  seed?: number;
}

/** Arrivals of `w` at `rate` per simulated second for `seconds`, Poisson, each of a kind drawn by weight. */
export function planRequests(
  model: string,
  w: WorkloadPlan,
  rate: number,
  seconds: number,
  seed: number,
  text: TokenText,
): PlannedRequest[] {
  const r = rng(seed);
  const prefixes = w.shared
    ? Array.from(
        { length: w.shared.tenants },
        (_, t) => `tenant ${t} system:` + text.words(w.shared!.prefixTokens, rng(1000 + t)),
      )
    : [];
  const kinds = [
    { kind: "shared" as const, weight: w.shared?.weight ?? 0 },
    { kind: "unique" as const, weight: w.unique?.weight ?? 0 },
    { kind: "conversation" as const, weight: w.conversation?.weight ?? 0 },
  ];
  const total = kinds.reduce((n, k) => n + k.weight, 0);
  const out: PlannedRequest[] = [];
  for (let at = -Math.log(1 - r()) / rate, i = 0; at < seconds; at += -Math.log(1 - r()) / rate, i++) {
    let pick = r() * total;
    const kind = kinds.find((k) => (pick -= k.weight) < 0)?.kind ?? "shared";
    if (kind === "shared") {
      const s = w.shared!;
      const prompt = prefixes[Math.floor(r() * s.tenants)] + " question:" + text.words(s.questionTokens, r);
      out.push({ at, kind, path: "/v1/completions", body: { model, prompt, max_tokens: s.outputTokens } });
    } else if (kind === "unique") {
      const u = w.unique!;
      out.push({
        at,
        kind,
        path: "/v1/completions",
        body: { model, prompt: text.words(u.promptTokens, r), max_tokens: u.outputTokens },
      });
    } else {
      const c = w.conversation!;
      const messages = [
        { role: "system", content: `conversation ${seed}-${i}:` + text.words(c.systemTokens, r) },
        { role: "user", content: text.words(c.userTokens, r).trim() },
      ];
      const body = { model, max_tokens: c.outputTokens, messages };
      out.push({ at, kind, path: "/v1/chat/completions", body, conversation: c, turn: 0, seed: seed * 7919 + i });
    }
  }
  return out;
}

/** The next turn of a conversation: the history, the reply, and a new user message; undefined after the last turn. */
export function nextTurn(prev: PlannedRequest, reply: string, text: TokenText): PlannedRequest | undefined {
  const c = prev.conversation;
  const turn = (prev.turn ?? 0) + 1;
  if (!c || turn >= c.turns) return undefined;
  const r = rng((prev.seed ?? 1) + turn);
  const messages = [...(prev.body.messages as { role: string; content: string }[])];
  messages.push({ role: "assistant", content: reply });
  messages.push({ role: "user", content: text.words(c.userTokens, r).trim() });
  return { ...prev, turn, body: { ...prev.body, messages } };
}
