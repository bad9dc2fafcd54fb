// Sends one point's planned requests through a router in scaled real time and records each streamed answer.
// Times are simulated: wall-clock figures times the simulator's speedup.
import { Pool } from "undici";
import type { TokenText } from "../lib/token-text.js";
import { nextTurn, type PlannedRequest } from "./workloads.js";

export interface Outcome {
  /** When the request was sent, simulated seconds after the point's start. */
  sentAt: number;
  kind: PlannedRequest["kind"];
  ok: boolean;
  /** Simulated seconds to the first token; 0 when none came. */
  ttft: number;
  /** Simulated seconds to the end of the answer. */
  e2e: number;
  tokens: number;
  text: string;
}

interface StreamEvent {
  choices?: { text?: string; delta?: { content?: string } }[];
  usage?: { completion_tokens?: number };
  error?: unknown;
}

/** One streamed request; times in wall-clock seconds. */
async function stream(pool: Pool, req: PlannedRequest): Promise<Omit<Outcome, "sentAt" | "kind">> {
  const t0 = performance.now();
  let ttft = 0;
  let text = "";
  let tokens = 0;
  try {
    const res = await pool.request({
      path: req.path,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...req.body, stream: true, stream_options: { include_usage: true } }),
    });
    let buf = "";
    for await (const chunk of res.body) {
      buf += (chunk as Buffer).toString("utf8");
      for (let nl = buf.indexOf("\n\n"); nl !== -1; nl = buf.indexOf("\n\n")) {
        const ev = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
        const data = JSON.parse(ev.slice(6)) as StreamEvent;
        if (data.error) throw new Error(JSON.stringify(data.error));
        const piece = data.choices?.[0]?.text ?? data.choices?.[0]?.delta?.content;
        if (piece) {
          if (ttft === 0) ttft = (performance.now() - t0) / 1000;
          text += piece;
        }
        if (data.usage?.completion_tokens !== undefined) tokens = data.usage.completion_tokens;
      }
    }
    return { ok: res.statusCode === 200 && ttft > 0, ttft, e2e: (performance.now() - t0) / 1000, tokens, text };
  } catch {
    return { ok: false, ttft: 0, e2e: (performance.now() - t0) / 1000, tokens: 0, text: "" };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Sends `plan` to `url` at its planned (simulated) times, conversations turn by turn, and waits for every answer.
 * `onTime(simSeconds, fn)` runs fn once that much simulated time has passed (to read counters at the warm-up's end).
 */
export async function runPoint(
  url: string,
  plan: readonly PlannedRequest[],
  speedup: number,
  text: TokenText,
  at?: { seconds: number; run: () => Promise<void> },
): Promise<{ outcomes: Outcome[]; wallSeconds: number }> {
  const pool = new Pool(url, { connections: 4096, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
  const t0 = performance.now();
  const simNow = () => ((performance.now() - t0) / 1000) * speedup;
  const outcomes: Outcome[] = [];
  const atResult = at ? sleep((at.seconds * 1000) / speedup).then(at.run) : undefined;
  const runOne = async (first: PlannedRequest): Promise<void> => {
    await sleep((first.at * 1000) / speedup - (performance.now() - t0));
    for (let req: PlannedRequest | undefined = first; req;) {
      const sentAt = simNow();
      const o = await stream(pool, req);
      outcomes.push({ ...o, sentAt, kind: req.kind, ttft: o.ttft * speedup, e2e: o.e2e * speedup });
      if (!o.ok || !req.conversation) return;
      const next = nextTurn(req, o.text, text);
      if (next) await sleep((req.conversation.thinkSeconds * 1000) / speedup);
      req = next;
    }
  };
  await Promise.all(plan.map(runOne));
  const wallSeconds = (performance.now() - t0) / 1000;
  await atResult;
  await pool.close();
  return { outcomes, wallSeconds };
}
