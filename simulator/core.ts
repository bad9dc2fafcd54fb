// What one simulated engine is made of besides its HTTP server: the engine model and its real-time loop, metrics,
// faults, the LoRA registry and the stream writer, built from the simulator's options. The request handlers
// (generate.ts, routes.ts) and the running handle (running.ts) share it.
import type { ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { isPrefixHashAlgo, PREFIX_HASH_ALGOS } from "../api/block-hash.js";
import { ModelTokenizer, type ChatMessage } from "../api/model-tokenizer.js";
import { calibrationName, engineConfigFor, getCalibration, type EngineCalibration } from "./calibrations.js";
import { Engine, type EngineConfig } from "./engine.js";
import { FaultState } from "./faults.js";
import { EngineLoop } from "./loop.js";
import { EngineMetrics } from "./metrics.js";
import { approximateEncoder, type PromptEncoder } from "./openai.js";
import type { SimulatorOptions } from "./options.js";
import { StreamWriter } from "./stream-writer.js";

export interface Adapter {
  name: string;
  id: number;
  path: string;
}

export interface SimulatorCore {
  model: string;
  calibration: EngineCalibration;
  config: EngineConfig;
  engine: Engine;
  loop: EngineLoop;
  faults: FaultState;
  metrics: EngineMetrics;
  encoder: PromptEncoder;
  /** Loaded adapters by name; `nextLoraId` numbers the next one. */
  adapters: Map<string, Adapter>;
  nextLoraId: number;
  streams: StreamWriter;
  /** Responses held open by the hang fault. */
  hung: Set<ServerResponse>;
  /** Reply length when a request sets no max_tokens. */
  defaultMaxTokens: number;
  /** A new response id: `<prefix>-<counter><random>`. */
  requestId(prefix: string): string;
  /** Unix seconds, for `created` fields. */
  created(): number;
  /** Waits `simMs` of simulated time in real time. */
  wallDelay(simMs: number): Promise<void>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

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

/** The calibration's engine configuration with the options' limits over it, each checked; errors name the field. */
export function engineConfigFromOptions(options: SimulatorOptions): {
  calibration: EngineCalibration;
  config: EngineConfig;
} {
  if (typeof options.model !== "string" || options.model.length === 0) {
    throw new Error("model: a served model name is required (e.g. --model llama-3-8b)");
  }
  const calibration: EngineCalibration = getCalibration(calibrationName(options));
  if (options.kvEventsReplayPort !== undefined && options.kvEventsPort === undefined) {
    throw new Error(`kvEventsReplayPort: ${options.kvEventsReplayPort} needs kvEventsPort (the publisher it replays)`);
  }
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
  return { calibration, config };
}

/** The engine and everything around it, from checked options (see `engineConfigFromOptions`). */
export async function createCore(options: SimulatorOptions): Promise<SimulatorCore> {
  const { calibration, config } = engineConfigFromOptions(options);
  const encoder = options.tokenizer ? modelEncoder(await ModelTokenizer.load(options.tokenizer)) : approximateEncoder;
  const kvTokens = config.numGpuBlocks * config.blockSize;
  if (kvTokens < config.blockSize * Math.ceil(config.maxModelLen / config.blockSize)) {
    // A request of max_model_len tokens must fit the cache, or it would wait forever. vLLM refuses to start; so do
    // we when the length was asked for, and shorten the calibration's default to fit a smaller --num-gpu-blocks.
    if (options.maxModelLen !== undefined) throw maxModelLenTooLong(options.maxModelLen, kvTokens);
    config.maxModelLen = kvTokens;
  }
  const speedup = options.speedup ?? 1;
  const engine = new Engine(config, { sharedTier: options.sharedTier });
  const loop = new EngineLoop(engine, speedup);
  const faults = new FaultState(options.faults);
  const metrics = new EngineMetrics(options.model, {
    engine,
    maxLoras: config.maxLoras,
    overrides: faults.metricOverrides,
  });
  engine.observer = metrics.observer();

  if (config.maxLoras === 0 && (options.adapters?.length ?? 0) > 0) {
    throw new Error(`adapters: ${options.adapters?.join(",")} need LoRA slots, but maxLoras is 0; set maxLoras >= 1`);
  }
  let requests = 0;
  const core: SimulatorCore = {
    model: options.model,
    calibration,
    config,
    engine,
    loop,
    faults,
    metrics,
    encoder,
    adapters: new Map(),
    nextLoraId: 1,
    streams: new StreamWriter(),
    hung: new Set(),
    defaultMaxTokens: options.defaultMaxTokens ?? 128,
    requestId: (prefix) => `${prefix}-${(++requests).toString(16)}${randomBytes(6).toString("hex")}`,
    created: () => Math.floor(Date.now() / 1000),
    wallDelay: (simMs) => new Promise<void>((r) => setTimeout(r, simMs / speedup)),
  };
  for (const name of options.adapters ?? []) {
    core.adapters.set(name, { name, id: core.nextLoraId++, path: `/models/${name}` });
  }
  loop.afterSlice = () => core.streams.start();
  return core;
}

/** vLLM's startup error when one sequence of max_model_len tokens cannot fit the KV cache. */
function maxModelLenTooLong(maxModelLen: number, kvTokens: number): Error {
  return new Error(
    `maxModelLen: to serve at least one request with the model's max seq len (${maxModelLen}), the KV cache must ` +
      `hold ${maxModelLen} tokens, but numGpuBlocks × blockSize holds ${kvTokens}. Based on the available memory, ` +
      `the estimated maximum model length is ${kvTokens}. Raise numGpuBlocks or lower maxModelLen.`,
  );
}
