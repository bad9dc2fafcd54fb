// The requests the overhead benchmark sends: a short completion (plain and streaming), and long prompts of about
// 2,500 tokens — eight documents a tail varies per request, the shape prefix-aware strategies are chosen for.
import type { RequestSpec } from "../router-common/loadgen.js";

export const MODEL = "bench-model";
const SHORT_PROMPT = "Write one short sentence about the sea.";

export const plain: RequestSpec = {
  path: "/v1/completions",
  body: JSON.stringify({ model: MODEL, prompt: SHORT_PROMPT, max_tokens: 4 }),
};

export const streaming: RequestSpec = {
  path: "/v1/completions",
  body: JSON.stringify({
    model: MODEL,
    prompt: SHORT_PROMPT,
    max_tokens: 8,
    stream: true,
    stream_options: { include_usage: true },
  }),
};

const WORDS = (
  "engine router cache block prefix token request latency queue model memory batch stream decode prefill " +
  "cluster node replica scale metric window budget policy weight score load balance tenant session adapter " +
  "the a of to in and with for on at by from over under between across while after before during"
).split(" ");

/** Words of a document, from a fixed-seed generator: the same text on every run. */
export function documentText(seed: number, words: number): string {
  let x = seed * 2654435761 + 1;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out.push(WORDS[x % WORDS.length]!);
    if (i % 14 === 13) out.push(".");
  }
  return out.join(" ");
}

/** Documents sharing no prefix with each other; at 1,700 words each is about 2,530 tokens (the simulator tokenizer). */
export const LONG_DOCUMENTS = Array.from({ length: 8 }, (_, i) => `Document ${i}: ${documentText(i + 1, 1700)}`);

/** The i-th long request: document i mod 8 and a question only this request asks. */
export function longRequest(i: number): RequestSpec {
  const prompt = `${LONG_DOCUMENTS[i % LONG_DOCUMENTS.length]}\n\nQuestion ${i}: summarise the text above in one line.`;
  return { path: "/v1/completions", body: JSON.stringify({ model: MODEL, prompt, max_tokens: 4 }) };
}
