// One streamed completion through the router: the reply's text (a conversation's next turn sends it back), the time
// to its first token, and why it failed when it did.
import type { Pool } from "undici";

export interface Answer {
  status: number;
  /** Milliseconds from sending to the first streamed token (to the end when none came). */
  ttftMs: number;
  ms: number;
  text: string;
  /** The end of a non-2xx answer's body, or the client error. */
  error?: string;
}

export async function complete(pool: Pool, model: string, prompt: string, maxTokens: number): Promise<Answer> {
  const start = performance.now();
  try {
    const res = await pool.request({
      path: "/v1/completions",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, prompt, max_tokens: maxTokens, stream: true }),
    });
    let first = 0;
    let text = "";
    let body = "";
    let pending = "";
    for await (const chunk of res.body) {
      const s = (chunk as Buffer).toString("utf8");
      if (res.statusCode !== 200) {
        body = (body + s).slice(-300);
        continue;
      }
      pending += s;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!line.startsWith("data:") || line === "data: [DONE]") continue;
        const event = JSON.parse(line.slice(5)) as { choices?: { text?: string }[] };
        const piece = event.choices?.[0]?.text ?? "";
        if (piece && first === 0) first = performance.now();
        text += piece;
      }
    }
    const end = performance.now();
    return {
      status: res.statusCode,
      ttftMs: (first || end) - start,
      ms: end - start,
      text,
      ...(res.statusCode === 200 ? {} : { error: body }),
    };
  } catch (err) {
    const ms = performance.now() - start;
    return { status: 0, ttftMs: ms, ms, text: "", error: err instanceof Error ? err.message : String(err) };
  }
}
