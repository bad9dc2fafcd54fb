// One simulated engine: the engine model, its real-time loop, metrics, LoRA registry, fault state, KV event publisher
// and vLLM's HTTP surface on a plain node:http server (no framework: thousands of open SSE streams stay cheap).
import type { SharedKvTier } from "./shared-tier.js";
import { fileURLToPath } from "node:url";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { readBody as readBoundedBody } from "../serving/body.js";
import { HttpError as ServingError } from "../serving/errors.js";
import { createServer } from "../serving/http-server.js";
import type { Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { isPrefixHashAlgo, PREFIX_HASH_ALGOS, type PrefixHashAlgo } from "../api/block-hash.js";
import { ModelTokenizer, type ChatMessage } from "../api/model-tokenizer.js";
import { Engine, type EngineRequest, type FinishReason } from "./engine.js";
import { EngineLoop } from "./loop.js";
import { EngineMetrics } from "./metrics.js";
import { KvEventPublisher } from "./kv-events.js";
import { ReplyText } from "./text.js";
import { calibrationName, engineConfigFor, getCalibration, type EngineCalibration } from "./calibrations.js";
import {
  ChunkWriter,
  HttpError,
  badRequest,
  contextTooLong,
  fullResponse,
  notFound,
  parseRequest,
  approximateEncoder,
  usage,
  type Endpoint,
  type PromptEncoder,
} from "./openai.js";
import { FaultError, FaultState, type FaultSettings } from "./faults.js";
import { embeddingResponse, parseEmbeddingRequest } from "./embeddings.js";
import { processStats } from "./process-stats.js";

export interface SimulatorOptions {
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (0 = a free port; default 0). */
  port?: number;
  /** Served model name (what `model` in requests must say). */
  model: string;
  /** vLLM's `--api-key`: `/v1/*` requests without `Authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
  /** Engine calibration (GPU type × model size), e.g. "h100-8b" (see simulator/calibrations.json). */
  calibration?: string;
  /** @deprecated The old name of `calibration`; still accepted, with a warning. */
  profile?: string;
  /** Simulated time runs this many times faster than real time (default 1). */
  speedup?: number;
  /** GPU LoRA slots (vLLM --max-loras); default from the calibration. */
  maxLoras?: number;
  /** Adapters loaded at start (as if by --lora-modules). */
  adapters?: string[];
  /** ZMQ port for KV events (0 = a free port; undefined = no KV events). */
  kvEventsPort?: number;
  /** ZMQ port of the KV event replay socket (0 = free; undefined = none; needs kvEventsPort). */
  kvEventsReplayPort?: number;
  /** KV event topic (default `kv@<host>:<port>@<model>`). */
  kvEventsTopic?: string;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  maxModelLen?: number;
  blockSize?: number;
  numGpuBlocks?: number;
  /** Simulated milliseconds to load an adapter through /v1/load_lora_adapter (default 200). */
  loraApiLoadMs?: number;
  /**
   * Directory of the model's tokenizer files (tokenizer.json, tokenizer_config.json with its chat template): prompts
   * become the token ids a real engine would compute. Without it, the shared approximation (api/tokens.ts).
   */
  tokenizer?: string;
  /** vLLM's --prefix-caching-hash-algo (default sha256) and the PYTHONHASHSEED engines run with (default unset). */
  prefixHashAlgo?: PrefixHashAlgo;
  prefixHashSeed?: string;
  /** Reply length when a request sets no max_tokens (an end-of-sequence is simulated there; default 128). */
  defaultMaxTokens?: number;
  /** Runtime fault settings at start. */
  faults?: Partial<FaultSettings>;
  /** A KV tier shared with other engines (a fleet passes one object to all): evicted blocks go there. */
  sharedTier?: SharedKvTier;
  /** Called when a crash is injected (the CLI exits the process here); default: the server just stops. */
  onCrash?: (code: number) => void;
}

export interface SimulatorStats {
  running: number;
  waiting: number;
  kvCacheUsage: number;
  freeBlocks: number;
  preemptions: number;
  adapters: string[];
  simulatedSeconds: number;
}

export interface RunningSimulator {
  url: string;
  host: string;
  port: number;
  model: string;
  /** Name of the engine calibration it runs. */
  calibration: string;
  gpuType: string;
  /** `tcp://host:port` of the KV event publisher, when enabled. */
  kvEventsEndpoint?: string;
  /** `tcp://host:port` of the KV event replay socket, when enabled. */
  kvEventsReplayEndpoint?: string;
  kvEventsTopic?: string;
  adapters(): string[];
  loadAdapter(name: string, path?: string): Promise<void>;
  unloadAdapter(name: string): void;
  /** Current fault settings; `setFaults` merges. */
  faults(): FaultSettings;
  setFaults(patch: Partial<FaultSettings>): FaultSettings;
  stats(): SimulatorStats;
  resetPrefixCache(): boolean;
  /** Prometheus text of this instance's registry. */
  metricsText(): Promise<string>;
  close(): Promise<void>;
}

interface PendingStream {
  res: ServerResponse;
  text: string;
  end: boolean;
  /** In the writer's list. */
  dirty: boolean;
  /** Waiting for the socket to drain (the client reads slower than tokens come). */
  blocked: boolean;
  /** Every chunk of this stream is ASCII, so its UTF-8 length is its string length. */
  ascii: boolean;
}

interface Adapter {
  name: string;
  id: number;
  path: string;
}

const MAX_BODY = 64 * 1024 * 1024;

/**
 * Writes one HTTP/1.1 chunk of a streaming (chunked) response straight to its socket: one string, one write, instead
 * of ServerResponse.write's framing in three pieces with a cork per call (thousands of streams make that cost count).
 * ServerResponse.end() still writes the terminating chunk, in order after these on the same socket.
 */
function writeChunk(res: ServerResponse, text: string, ascii: boolean): void {
  if (text.length === 0) return;
  const socket = res.socket;
  if (!socket || !res.headersSent || socket.destroyed || !res.chunkedEncoding) {
    res.write(text);
    return;
  }
  const bytes = ascii ? text.length : Buffer.byteLength(text);
  socket.write(`${bytes.toString(16)}\r\n${text}\r\n`);
}

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(res, e.status, e.body());
}

async function readBody(req: IncomingMessage): Promise<string> {
  try {
    return (await readBoundedBody(req, MAX_BODY)).toString("utf8");
  } catch (err) {
    if (err instanceof ServingError) {
      throw new HttpError(413, "BadRequestError", `request body: larger than ${MAX_BODY} bytes`);
    }
    throw err;
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw badRequest(`request body: invalid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

function seedOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The tokenizer shipped with the simulator: a small byte-level BPE with a chat template (built by
 * test/python/tiny_model.py; the real-engine tests serve a model with the same files).
 */
export const SIMULATOR_TOKENIZER_DIR = fileURLToPath(new URL("./tokenizer", import.meta.url));

/** Prompts as vLLM's OpenAI server tokenizes them with the model's own tokenizer and chat template. */
function modelEncoder(tok: ModelTokenizer): PromptEncoder {
  return {
    chat: (messages, body) =>
      tok.chatTokenIds(messages as ChatMessage[], {
        addGenerationPrompt: body.add_generation_prompt !== false,
        continueFinalMessage: body.continue_final_message === true,
        templateKwargs: isRecord(body.chat_template_kwargs) ? body.chat_template_kwargs : undefined,
        tools: body.tools,
      }),
    completion: (prompt) => tok.completionTokenIds(prompt),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  if (typeof options.model !== "string" || options.model.length === 0) {
    throw new Error("model: a served model name is required (e.g. --model llama-3-8b)");
  }
  const calibration: EngineCalibration = getCalibration(calibrationName(options));
  if (options.kvEventsReplayPort !== undefined && options.kvEventsPort === undefined) {
    throw new Error(`kvEventsReplayPort: ${options.kvEventsReplayPort} needs kvEventsPort (the publisher it replays)`);
  }
  const host = options.host ?? "127.0.0.1";
  const speedup = options.speedup ?? 1;
  const overrides: Record<string, number | undefined> = {
    maxNumSeqs: options.maxNumSeqs,
    maxNumBatchedTokens: options.maxNumBatchedTokens,
    maxModelLen: options.maxModelLen,
    blockSize: options.blockSize,
    numGpuBlocks: options.numGpuBlocks,
    maxLoras: options.maxLoras,
  };
  for (const [field, v] of Object.entries(overrides)) {
    if (v !== undefined && (!Number.isInteger(v) || v < (field === "maxLoras" ? 0 : 1))) {
      throw new Error(`${field}: ${String(v)} must be a positive integer`);
    }
  }
  const config = engineConfigFor(
    calibration,
    Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Record<string, number>,
  );
  if (options.prefixHashAlgo !== undefined && !isPrefixHashAlgo(options.prefixHashAlgo)) {
    throw new Error(`prefixHashAlgo: ${String(options.prefixHashAlgo)} must be one of ${PREFIX_HASH_ALGOS.join(", ")}`);
  }
  config.prefixHashAlgo = options.prefixHashAlgo ?? "sha256";
  if (options.prefixHashSeed !== undefined) config.prefixHashSeed = options.prefixHashSeed;
  const encoder = options.tokenizer ? modelEncoder(await ModelTokenizer.load(options.tokenizer)) : approximateEncoder;
  if (config.numGpuBlocks * config.blockSize < config.blockSize * Math.ceil(config.maxModelLen / config.blockSize)) {
    // A request of max_model_len tokens must fit the cache, or it would wait forever.
    config.maxModelLen = config.numGpuBlocks * config.blockSize;
  }
  const model = options.model;
  const defaultMaxTokens = options.defaultMaxTokens ?? 128;
  const loraApiLoadMs = options.loraApiLoadMs ?? 200;
  const engine = new Engine(config, { sharedTier: options.sharedTier });
  const loop = new EngineLoop(engine, speedup);
  const faults = new FaultState(options.faults);
  const metrics = new EngineMetrics(model, {
    engine,
    maxLoras: config.maxLoras,
    overrides: faults.metricOverrides,
  });
  engine.observer = metrics.observer();

  if (config.maxLoras === 0 && (options.adapters?.length ?? 0) > 0) {
    throw new Error(`adapters: ${options.adapters?.join(",")} need LoRA slots, but maxLoras is 0; set maxLoras >= 1`);
  }
  const adapters = new Map<string, Adapter>();
  let nextLoraId = 1;
  for (const name of options.adapters ?? []) {
    adapters.set(name, { name, id: nextLoraId++, path: `/models/${name}` });
  }

  let publisher: KvEventPublisher | undefined;
  // Streams with chunks waiting to be written. The loop hands them over after each slice (EngineLoop.afterSlice);
  // the writer drains them in batches of a few milliseconds, yielding to the event loop in between, so thousands of
  // streams never block it for long. A stream waiting its turn, or whose client reads slowly (its socket wants a
  // drain), accumulates tokens and gets them in one write: memory and syscalls stay bounded under overload.
  let dirty: PendingStream[] = [];
  let writing = false;
  const WRITE_SLICE_MS = 3;
  const drain = () => {
    const until = performance.now() + WRITE_SLICE_MS;
    let i = 0;
    for (; i < dirty.length; i++) {
      if ((i & 31) === 31 && performance.now() > until) break;
      const p = dirty[i] as PendingStream;
      p.dirty = false;
      if (p.res.destroyed) continue;
      const socket = p.res.socket;
      if (!p.end && socket?.writableNeedDrain) {
        p.blocked = true;
        socket.once("drain", () => {
          p.blocked = false;
          if (p.text.length > 0 || p.end) mark(p);
          startWriter();
        });
        continue;
      }
      const text = p.text;
      p.text = "";
      writeChunk(p.res, text, p.ascii);
      if (p.end) p.res.end();
    }
    dirty = i >= dirty.length ? [] : dirty.slice(i);
    if (dirty.length > 0) setImmediate(drain);
    else writing = false;
  };
  const startWriter = () => {
    if (!writing && dirty.length > 0) {
      writing = true;
      drain();
    }
  };
  loop.afterSlice = startWriter;
  const mark = (p: PendingStream) => {
    if (!p.dirty && !p.blocked) {
      p.dirty = true;
      dirty.push(p);
    }
  };
  const queue = (p: PendingStream, text: string, end = false) => {
    p.text += text;
    if (end) p.end = true;
    mark(p);
  };
  loop.afterStep = () => {
    if (publisher) publisher.publish(engine.drainKvEvents());
    else engine.drainKvEvents();
  };

  let reqCounter = 0;
  const created = () => Math.floor(Date.now() / 1000);
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();
  let crashed = false;

  const wallDelay = (simMs: number) => new Promise<void>((r) => setTimeout(r, simMs / speedup));

  async function handleGenerate(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const forced = req.headers["x-simulator-error"];
    const delayHeader = req.headers["x-simulator-delay-ms"];
    const body = await readJson(req);
    const parsed = parseRequest(endpoint, body, encoder);
    let lora: Adapter | undefined;
    if (parsed.model !== model) {
      lora = adapters.get(parsed.model);
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
      await wallDelay(ms);
    }
    if (faults.settings.hang) {
      hung.add(res);
      return;
    }

    const id = `${endpoint === "chat" ? "chatcmpl" : "cmpl"}-${(++reqCounter).toString(16)}${randomBytes(6).toString("hex")}`;
    const reply = new ReplyText(seedOf(id));
    const budget = Math.min(parsed.maxTokens ?? defaultMaxTokens, config.maxModelLen - prompt);
    const stopAt = parsed.stop.length > 0 ? reply.stopPoint(parsed.stop, budget, parsed.minTokens) : null;
    const stopReason = stopAt?.stopped ? (stopAt.stop ?? null) : null;
    let cachedTokens = 0;
    const genTokens = stopAt ? stopAt.tokens : budget;
    const finishReason: "length" | "stop" = stopAt?.stopped || parsed.maxTokens === undefined ? "stop" : "length";
    const replyModel = parsed.model;
    const createdAt = created();
    // The text of token i, with a stop string (and what follows) cut from the last token.
    const tokenJson = (i: number): string => {
      if (stopAt?.stopped && i === genTokens - 1) {
        const before = reply.text(i);
        return JSON.stringify(stopAt.text.slice(before.length));
      }
      return reply.wordJson(i);
    };

    let finishedWith: FinishReason | null = null;
    const done = new Promise<void>((resolve) => {
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
        outputToken: (i) => reply.tokenId(i),
        onScheduled: (cached) => (cachedTokens = cached),
        onToken: (i) => {
          if (!writer) return;
          const chunk =
            i === genTokens - 1 ? writer.last(tokenJson(i), finishReason, stopReason) : writer.token(tokenJson(i));
          queue(pending, i === 0 ? writer.opening() + chunk : chunk);
        },
        onFinish: (reason) => {
          finishedWith = reason;
          if (reason === "abort") return resolve();
          if (writer) {
            let out = "";
            if (parsed.includeUsage) out += writer.usage(usage(prompt, genTokens, cachedTokens));
            out += writer.done();
            queue(pending, out, true);
          } else {
            const text = stopAt?.stopped ? stopAt.text : reply.text(genTokens);
            sendJson(
              res,
              200,
              fullResponse(
                endpoint,
                id,
                createdAt,
                replyModel,
                text,
                reason,
                usage(prompt, genTokens, cachedTokens),
                stopReason,
              ),
            );
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
    await done;
  }

  async function handleEmbeddings(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = parseEmbeddingRequest(await readJson(req));
    if (parsed.model !== model) throw notFound(`The model \`${parsed.model}\` does not exist.`, "model");
    for (const tokens of parsed.inputs) {
      if (tokens.length > config.maxModelLen) throw contextTooLong(config.maxModelLen, tokens.length, undefined);
    }
    const id = `embd-${(++reqCounter).toString(16)}${randomBytes(6).toString("hex")}`;
    sendJson(res, 200, embeddingResponse(id, created(), parsed));
  }

  async function handleLoad(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    const name = b.lora_name;
    const path = b.lora_path;
    if (typeof name !== "string" || name === "" || typeof path !== "string" || path === "") {
      throw new HttpError(400, "InvalidUserInput", "Both 'lora_name' and 'lora_path' must be provided.");
    }
    if (adapters.has(name)) {
      throw new HttpError(400, "InvalidUserInput", `The lora adapter '${name}' has already been loaded.`);
    }
    if (config.maxLoras === 0) {
      throw new HttpError(400, "InvalidUserInput", "LoRA is not enabled on this engine (max_loras is 0).");
    }
    await sim.loadAdapter(name, path);
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end(`Success: LoRA adapter '${name}' added successfully.`);
  }

  async function handleUnload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    const name = b.lora_name;
    if (typeof name !== "string" || name === "") {
      throw new HttpError(400, "InvalidUserInput", "'lora_name' needs to be provided to unload a LoRA adapter.");
    }
    if (!adapters.has(name)) {
      throw new HttpError(404, "NotFoundError", `The lora adapter '${name}' cannot be found.`);
    }
    sim.unloadAdapter(name);
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end(`Success: LoRA adapter '${name}' removed successfully.`);
  }

  function modelsList(): unknown {
    const now = created();
    const card = (id: string, root: string, parent: string | null) => ({
      id,
      object: "model",
      created: now,
      owned_by: "vllm",
      root,
      parent,
      max_model_len: config.maxModelLen,
      permission: [],
    });
    return {
      object: "list",
      data: [card(model, model, null), ...[...adapters.values()].map((a) => card(a.name, a.path, model))],
    };
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = (req.url ?? "/").split("?")[0];
    const method = req.method ?? "GET";
    // vLLM checks the key on /v1 paths only, and answers {"error": "Unauthorized"}.
    if (
      options.apiKey !== undefined &&
      url?.startsWith("/v1") &&
      req.headers.authorization !== `Bearer ${options.apiKey}`
    ) {
      req.resume();
      return sendJson(res, 401, { error: "Unauthorized" });
    }
    if (method === "POST" && url === "/v1/completions") return handleGenerate("completions", req, res);
    if (method === "POST" && url === "/v1/chat/completions") return handleGenerate("chat", req, res);
    if (method === "POST" && url === "/v1/embeddings") return handleEmbeddings(req, res);
    if (method === "GET" && url === "/v1/models") return sendJson(res, 200, modelsList());
    if (method === "GET" && url === "/health") {
      if (faults.settings.hang) {
        hung.add(res);
        return;
      }
      res.writeHead(200).end();
      return;
    }
    if (method === "GET" && url === "/metrics") {
      const text = await metrics.text();
      res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text);
      return;
    }
    if (method === "POST" && url === "/v1/load_lora_adapter") return handleLoad(req, res);
    if (method === "POST" && url === "/v1/unload_lora_adapter") return handleUnload(req, res);
    if (method === "POST" && url === "/reset_prefix_cache") {
      if (!sim.resetPrefixCache()) {
        throw badRequest("reset_prefix_cache: requests still hold KV blocks; retry when the engine is idle");
      }
      res.writeHead(200).end();
      return;
    }
    if (url === "/admin/faults") {
      if (method === "GET") return sendJson(res, 200, faults.settings);
      if (method === "POST") {
        const body = await readJson(req);
        const next = sim.setFaults(body as Partial<FaultSettings>);
        return sendJson(res, 200, next);
      }
    }
    if (method === "GET" && url === "/admin/stats") return sendJson(res, 200, sim.stats());
    if (method === "GET" && url === "/admin/process") {
      const query = req.url ?? "";
      return sendJson(res, 200, processStats(query.includes("reset=1"), query.includes("interval=1")));
    }
    throw notFound(`${method} ${url}: no such route`);
  }

  const server: Server = createServer((req, res) => {
    return route(req, res).catch((err: unknown) => {
      const e =
        err instanceof HttpError
          ? err
          : err instanceof FaultError
            ? badRequest(err.message)
            : new HttpError(500, "InternalServerError", err instanceof Error ? err.message : String(err));
      if (res.headersSent) {
        if (!res.writableEnded) res.end(`data: ${JSON.stringify(e.body())}\n\n`);
        return;
      }
      sendError(res, e);
    });
  }).server;
  server.on("connection", (s: Socket) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : (options.port ?? 0);

  let kvEventsTopic: string | undefined;
  if (options.kvEventsPort !== undefined) {
    kvEventsTopic = options.kvEventsTopic ?? `kv@${host}:${port}@${model}`;
    try {
      publisher = await KvEventPublisher.bind(host, options.kvEventsPort, kvEventsTopic, options.kvEventsReplayPort);
    } catch (e) {
      server.close();
      throw new Error(
        `kvEventsPort: ${options.kvEventsPort} could not be bound on ${host} (${e instanceof Error ? e.message : String(e)}); use 0 for a free port`,
        { cause: e },
      );
    }
  }

  let closed = false;
  async function shutdown(): Promise<void> {
    if (closed) return;
    closed = true;
    loop.stop();
    engine.detach();
    publisher?.close();
    for (const r of hung) r.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }

  const sim: RunningSimulator = {
    url: `http://${host}:${port}`,
    host,
    port,
    model,
    calibration: calibration.name,
    gpuType: calibration.gpuType,
    kvEventsEndpoint: publisher?.endpoint,
    kvEventsReplayEndpoint: publisher?.replayEndpoint,
    kvEventsTopic,
    adapters: () => [...adapters.keys()],
    async loadAdapter(name, path) {
      if (adapters.has(name)) throw new Error(`adapter: "${name}" is already loaded`);
      // Reserve the name first so concurrent loads of one adapter fail like vLLM's.
      adapters.set(name, { name, id: nextLoraId++, path: path ?? `/models/${name}` });
      if (loraApiLoadMs > 0) await wallDelay(loraApiLoadMs);
    },
    unloadAdapter(name) {
      if (!adapters.delete(name)) throw new Error(`adapter: "${name}" is not loaded`);
      engine.evictLora(name);
    },
    faults: () => ({ ...faults.settings, metricOverrides: Object.fromEntries(faults.metricOverrides) }),
    setFaults(patch) {
      faults.apply(FaultState.parsePatch(patch));
      loop.slowdown = faults.settings.slowdown;
      loop.setPaused(faults.settings.hang);
      if (!faults.settings.hang) {
        for (const r of hung) r.destroy();
        hung.clear();
      }
      if (faults.settings.crash && !crashed) {
        crashed = true;
        const code = faults.settings.crashExitCode;
        // Let the admin response go out first.
        setTimeout(() => {
          void shutdown().then(() => options.onCrash?.(code));
        }, 10);
      }
      return sim.faults();
    },
    stats: () => ({
      running: engine.numRunning,
      waiting: engine.numWaiting,
      kvCacheUsage: engine.pool.usage(),
      freeBlocks: engine.pool.freeBlocks,
      preemptions: engine.preemptions,
      adapters: [...adapters.keys()],
      simulatedSeconds: loop.now(),
    }),
    resetPrefixCache() {
      const ok = engine.resetPrefixCache();
      // Outside a step: publish now rather than with the next step's batch.
      publisher?.publish(engine.drainKvEvents());
      return ok;
    },
    metricsText: () => metrics.text(),
    close: shutdown,
  };
  if (options.faults) sim.setFaults(options.faults);
  return sim;
}
