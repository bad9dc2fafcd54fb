// /v1/completions and /v1/chat/completions: check the request (and the injected faults), plan the reply, and run it
// through the engine, streaming tokens as the engine produces them or answering once it finishes.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Adapter, SimulatorCore } from "./core.js";
import type { EngineRequest, FinishReason } from "./engine.js";
import { ASCII, readJson, sendJson } from "./http-io.js";
import {
  ChunkWriter,
  HttpError,
  badRequest,
  contextTooLong,
  fullResponse,
  notFound,
  parseRequest,
  usage,
  type Endpoint,
  type ParsedRequest,
} from "./openai.js";
import type { PendingStream } from "./stream-writer.js";
import { ReplyText } from "./text.js";

function seedOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A checked request the engine is to serve (undefined: held open by the hang fault). */
interface CheckedRequest {
  parsed: ParsedRequest;
  lora: Adapter | undefined;
  /** Prompt length in tokens. */
  prompt: number;
}

/** Parses and checks a generation request, applying the injected error, error rate, delay and hang faults. */
async function checkGeneration(
  core: SimulatorCore,
  endpoint: Endpoint,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<CheckedRequest | undefined> {
  const { config, faults } = core;
  const forced = req.headers["x-simulator-error"];
  const delayHeader = req.headers["x-simulator-delay-ms"];
  const body = await readJson(req);
  const parsed = parseRequest(endpoint, body, core.encoder);
  let lora: Adapter | undefined;
  if (parsed.model !== core.model) {
    lora = core.adapters.get(parsed.model);
    if (!lora) throw notFound(`The model \`${parsed.model}\` does not exist.`, "model");
  }
  if (typeof forced === "string") {
    const status = Number(forced);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw badRequest(`x-simulator-error: "${forced}" must be an HTTP error status 400-599`);
    }
    throw new HttpError(status, status >= 500 ? "InternalServerError" : "BadRequestError", "Injected error");
  }
  if (faults.settings.errorRate > 0 && Math.random() < faults.settings.errorRate) {
    throw new HttpError(faults.settings.errorStatus, "InternalServerError", "Injected error (error rate)");
  }
  const prompt = parsed.promptTokens.length;
  if (prompt + (parsed.maxTokens ?? 0) > config.maxModelLen || prompt >= config.maxModelLen) {
    throw contextTooLong(config.maxModelLen, prompt, parsed.maxTokens);
  }
  if (typeof delayHeader === "string") {
    const ms = Number(delayHeader);
    if (!Number.isFinite(ms) || ms < 0) throw badRequest(`x-simulator-delay-ms: "${delayHeader}" must be >= 0`);
    await core.wallDelay(ms);
  }
  if (faults.settings.hang) {
    core.hung.add(res);
    return undefined;
  }
  return { parsed, lora, prompt };
}

/** What the reply will say: its length, where a stop string ends it, and why it finishes. */
export interface ReplyPlan {
  id: string;
  reply: ReplyText;
  genTokens: number;
  finishReason: "length" | "stop";
  stopAt: { tokens: number; stopped: boolean; text: string; stop?: string } | null;
  stopReason: string | null;
  /** The text of token i, with a stop string (and what follows) cut from the last token. */
  tokenJson(i: number): string;
}

export function planReply(core: SimulatorCore, parsed: ParsedRequest, id: string, prompt: number): ReplyPlan {
  const reply = new ReplyText(seedOf(id));
  const budget = Math.min(parsed.maxTokens ?? core.defaultMaxTokens, core.config.maxModelLen - prompt);
  const stopAt = parsed.stop.length > 0 ? reply.stopPoint(parsed.stop, budget, parsed.minTokens) : null;
  const genTokens = stopAt ? stopAt.tokens : budget;
  return {
    id,
    reply,
    genTokens,
    finishReason: stopAt?.stopped || parsed.maxTokens === undefined ? "stop" : "length",
    stopAt,
    stopReason: stopAt?.stopped ? (stopAt.stop ?? null) : null,
    tokenJson: (i) => {
      if (stopAt?.stopped && i === genTokens - 1) {
        const before = reply.text(i);
        return JSON.stringify(stopAt.text.slice(before.length));
      }
      return reply.wordJson(i);
    },
  };
}

export async function handleGenerate(
  core: SimulatorCore,
  endpoint: Endpoint,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const checked = await checkGeneration(core, endpoint, req, res);
  if (!checked) return;
  const id = core.requestId(endpoint === "chat" ? "chatcmpl" : "cmpl");
  const plan = planReply(core, checked.parsed, id, checked.prompt);
  await runGeneration(core, endpoint, checked, plan, res);
}

/** Submits the request to the engine; resolves when it finished, was aborted, or the client went away. */
function runGeneration(
  core: SimulatorCore,
  endpoint: Endpoint,
  { parsed, lora, prompt }: CheckedRequest,
  plan: ReplyPlan,
  res: ServerResponse,
): Promise<void> {
  const { engine, loop } = core;
  const { id, genTokens, finishReason, stopAt, stopReason } = plan;
  const replyModel = parsed.model;
  const createdAt = core.created();
  let cachedTokens = 0;
  let finishedWith: FinishReason | null = null;
  return new Promise<void>((resolve) => {
    const writer = parsed.stream ? new ChunkWriter(endpoint, id, createdAt, replyModel) : null;
    if (writer) {
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        connection: "keep-alive",
      });
      // Send the headers now, so stream chunks can go straight to the socket (writeChunk). As in vLLM, the chat
      // role chunk goes out with the first token, so time to first byte is time to first token.
      res.flushHeaders();
    }
    const pending: PendingStream = {
      res,
      text: "",
      end: false,
      dirty: false,
      blocked: false,
      ascii: ASCII.test(id + replyModel),
    };
    const engineReq: EngineRequest = {
      id,
      promptTokens: parsed.promptTokens,
      maxTokens: genTokens,
      finishReason,
      lora: lora ? { name: lora.name, id: lora.id, path: lora.path } : undefined,
      outputToken: (i) => plan.reply.tokenId(i),
      onScheduled: (cached) => (cachedTokens = cached),
      onToken: (i) => {
        if (!writer) return;
        const chunk =
          i === genTokens - 1
            ? writer.last(plan.tokenJson(i), finishReason, stopReason)
            : writer.token(plan.tokenJson(i));
        core.streams.queue(pending, i === 0 ? writer.opening() + chunk : chunk);
      },
      onFinish: (reason) => {
        finishedWith = reason;
        if (reason === "abort") return resolve();
        const used = usage(prompt, genTokens, cachedTokens);
        if (writer) {
          core.streams.queue(pending, (parsed.includeUsage ? writer.usage(used) : "") + writer.done(), true);
        } else {
          const text = stopAt?.stopped ? stopAt.text : plan.reply.text(genTokens);
          sendJson(res, 200, fullResponse(endpoint, id, createdAt, replyModel, text, reason, used, stopReason));
        }
        resolve();
      },
    };
    res.on("close", () => {
      if (finishedWith === null) engine.abort(id, loop.now());
      resolve();
    });
    const arrival = loop.now();
    engine.submit(engineReq, arrival);
    loop.kick(arrival);
  });
}
