// Workloads for routing quality: shared-prefix multi-tenant (the shape of llm-d's b2b-saas benchmark, scaled to this
// machine), multi-turn chat, and random prompts. Text is built from three-letter words, one token each under the
// shared tokenizer approximation, so token counts are exact by construction. Deterministic per seed.

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/** `n` tokens of text: n three-letter words, each with its leading space. */
export function words(n: number, rand: () => number): string {
  let out = "";
  for (let i = 0; i < n; i++) {
    out += " ";
    for (let j = 0; j < 3; j++) out += LETTERS[Math.floor(rand() * 26)];
  }
  return out;
}

export interface PlannedRequest {
  /** Seconds after start (simulated time) when the request is sent. */
  at: number;
  path: "/v1/completions" | "/v1/chat/completions";
  body: Record<string, unknown>;
  /** For shared-prefix: the tenant whose system prompt the request starts with. */
  tenant?: number;
  /** For multi-turn: conversation id and turn (later turns wait for earlier ones). */
  conversation?: number;
  turn?: number;
}

export interface SharedPrefixShape {
  tenants: number;
  prefixTokens: number;
  questionTokens: number;
  outputTokens: number;
  /** Requests per second (simulated time), Poisson. */
  rate: number;
  requests: number;
}

export function sharedPrefix(model: string, s: SharedPrefixShape, seed = 7): PlannedRequest[] {
  const r = rng(seed);
  const prefixes = Array.from(
    { length: s.tenants },
    (_, t) => `tenant ${t} system:` + words(s.prefixTokens, rng(1000 + t)),
  );
  const out: PlannedRequest[] = [];
  let at = 0;
  for (let i = 0; i < s.requests; i++) {
    at += -Math.log(1 - r()) / s.rate;
    const tenant = Math.floor(r() * s.tenants);
    out.push({
      at,
      path: "/v1/completions",
      tenant,
      body: { model, prompt: prefixes[tenant] + " question:" + words(s.questionTokens, r), max_tokens: s.outputTokens },
    });
  }
  return out;
}

export interface RandomShape {
  promptTokens: number;
  outputTokens: number;
  rate: number;
  requests: number;
}

export function randomPrompts(model: string, s: RandomShape, seed = 11): PlannedRequest[] {
  const r = rng(seed);
  const out: PlannedRequest[] = [];
  let at = 0;
  for (let i = 0; i < s.requests; i++) {
    at += -Math.log(1 - r()) / s.rate;
    out.push({
      at,
      path: "/v1/completions",
      body: { model, prompt: words(s.promptTokens, r), max_tokens: s.outputTokens },
    });
  }
  return out;
}

export interface MultiTurnShape {
  conversations: number;
  turns: number;
  systemTokens: number;
  userTokens: number;
  outputTokens: number;
  /** Conversations started per second (simulated time), Poisson. */
  rate: number;
  /** Pause between a reply and the next turn (simulated seconds). */
  thinkSeconds: number;
}

/** First-turn plan of each conversation; later turns are built from the replies (see `nextTurn`). */
export function multiTurn(model: string, s: MultiTurnShape, seed = 13): PlannedRequest[] {
  const r = rng(seed);
  const out: PlannedRequest[] = [];
  let at = 0;
  for (let c = 0; c < s.conversations; c++) {
    at += -Math.log(1 - r()) / s.rate;
    out.push({
      at,
      path: "/v1/chat/completions",
      conversation: c,
      turn: 0,
      body: {
        model,
        max_tokens: s.outputTokens,
        messages: [
          { role: "system", content: `conversation ${c}:` + words(s.systemTokens, r) },
          { role: "user", content: words(s.userTokens, r).trim() },
        ],
      },
    });
  }
  return out;
}

export function nextTurn(prev: PlannedRequest, reply: string, s: MultiTurnShape, seed: number): PlannedRequest {
  const r = rng(seed);
  const messages = [...(prev.body.messages as { role: string; content: string }[])];
  messages.push({ role: "assistant", content: reply });
  messages.push({ role: "user", content: words(s.userTokens, r).trim() });
  return { ...prev, turn: (prev.turn ?? 0) + 1, body: { ...prev.body, messages } };
}
