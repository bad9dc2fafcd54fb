// vLLM's OpenAI-compatible request checks, error bodies and response shapes (completions and chat).
import { chatPromptText, tokenize, type ChatMessageLike } from "../api/tokens.js";

/** vLLM's error body: {"error": {message, type, param, code}}. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: number };
}

export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;

  constructor(status: number, type: string, message: string, param: string | null = null) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

export const badRequest = (message: string, param: string | null = null) =>
  new HttpError(400, "BadRequestError", message, param);
export const notFound = (message: string, param: string | null = null) =>
  new HttpError(404, "NotFoundError", message, param);

export type Endpoint = "completions" | "chat";

/** How prompts become token ids: the model's own tokenizer, or the shared approximation (api/tokens.ts). */
export interface PromptEncoder {
  chat(messages: ChatMessageLike[], body: Record<string, unknown>): number[];
  completion(prompt: string): number[];
}

export const approximateEncoder: PromptEncoder = {
  chat: (messages) => tokenize(chatPromptText(messages)),
  completion: tokenize,
};

export interface ParsedRequest {
  endpoint: Endpoint;
  model: string;
  promptTokens: number[];
  /** Tokens requested (undefined: until end of sequence, which the simulator places at `defaultMaxTokens`). */
  maxTokens: number | undefined;
  stream: boolean;
  includeUsage: boolean;
  stop: string[];
  /** vLLM's `min_tokens`: stop strings are ignored before this many output tokens. */
  minTokens: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function positiveInt(body: Record<string, unknown>, field: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw badRequest(`${field}: ${JSON.stringify(v)} must be an integer >= 1`, field);
  }
  return v;
}

function promptTokens(prompt: unknown, encoder: PromptEncoder): number[] {
  if (typeof prompt === "string") return encoder.completion(prompt);
  if (Array.isArray(prompt)) {
    if (prompt.length === 1 && typeof prompt[0] === "string") return encoder.completion(prompt[0]);
    if (prompt.length > 0 && prompt.every((t) => typeof t === "number" && Number.isInteger(t) && t >= 0)) {
      return prompt as number[];
    }
    if (prompt.length === 1 && Array.isArray(prompt[0])) return promptTokens(prompt[0], encoder);
  }
  throw badRequest(
    "prompt: must be a string, a list of one string, or a list of token ids (batched prompts are not simulated)",
    "prompt",
  );
}

/** Validates a completions or chat body; throws HttpError with vLLM's status and wording. */
export function parseRequest(
  endpoint: Endpoint,
  body: unknown,
  encoder: PromptEncoder = approximateEncoder,
): ParsedRequest {
  if (!isObject(body)) throw badRequest("request body: must be a JSON object");
  const model = body.model;
  if (typeof model !== "string" || model.length === 0) throw badRequest("model: a model name is required", "model");
  const n = body.n;
  if (n !== undefined && n !== null && n !== 1)
    throw badRequest(`n: ${JSON.stringify(n)} is not supported; use n=1`, "n");
  let tokens: number[];
  let maxTokens: number | undefined;
  if (endpoint === "chat") {
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      throw badRequest("messages: must be a non-empty list of {role, content}", "messages");
    }
    messages.forEach((m, i) => {
      if (!isObject(m) || typeof m.role !== "string") {
        throw badRequest(`messages[${i}].role: must be a string`, "messages");
      }
      if (m.content !== undefined && m.content !== null && typeof m.content !== "string" && !Array.isArray(m.content)) {
        throw badRequest(`messages[${i}].content: must be a string or a list of content parts`, "messages");
      }
    });
    tokens = encoder.chat(messages as ChatMessageLike[], body);
    maxTokens = positiveInt(body, "max_completion_tokens") ?? positiveInt(body, "max_tokens");
  } else {
    if (body.prompt === undefined) throw badRequest("prompt: is required", "prompt");
    tokens = promptTokens(body.prompt, encoder);
    if (tokens.length === 0) throw badRequest("prompt: must contain at least one token", "prompt");
    maxTokens = positiveInt(body, "max_tokens");
  }
  const stream = body.stream === true;
  const so = body.stream_options;
  const includeUsage = stream && isObject(so) && so.include_usage === true;
  let stop: string[] = [];
  if (typeof body.stop === "string") stop = [body.stop];
  else if (Array.isArray(body.stop) && body.stop.every((s) => typeof s === "string")) stop = body.stop as string[];
  else if (body.stop !== undefined && body.stop !== null) {
    throw badRequest("stop: must be a string or a list of strings", "stop");
  }
  refuseUnsimulated(endpoint, body);
  const minTokens = body.min_tokens ?? 0;
  if (typeof minTokens !== "number" || !Number.isInteger(minTokens) || minTokens < 0) {
    throw badRequest(`min_tokens: ${JSON.stringify(minTokens)} must be an integer >= 0`, "min_tokens");
  }
  if (maxTokens !== undefined && minTokens > maxTokens) {
    throw badRequest(`min_tokens: ${minTokens} must be less than or equal to max_tokens=${maxTokens}`, "min_tokens");
  }
  return { endpoint, model, promptTokens: tokens, maxTokens, stream, includeUsage, stop, minTokens };
}

/**
 * Parameters vLLM honours that the simulator cannot honestly fake (it samples no distribution and calls no tools):
 * refused with a 400 naming the field, rather than accepted and silently ignored. Their neutral values pass.
 */
function refuseUnsimulated(endpoint: Endpoint, body: Record<string, unknown>): void {
  const absent = (v: unknown) => v === undefined || v === null;
  const refuse = (field: string, why: string) => {
    throw badRequest(`${field}: ${JSON.stringify(body[field])} is not simulated (${why}); remove it`, field);
  };
  if (!absent(body.logprobs) && body.logprobs !== false) refuse("logprobs", "the simulator has no token probabilities");
  if (!absent(body.top_logprobs) && body.top_logprobs !== 0) {
    refuse("top_logprobs", "the simulator has no token probabilities");
  }
  if (!absent(body.prompt_logprobs)) refuse("prompt_logprobs", "the simulator has no token probabilities");
  if (endpoint === "completions" && body.echo === true) refuse("echo", "completions are generated text only");
  if (Array.isArray(body.tools) ? body.tools.length > 0 : !absent(body.tools)) {
    refuse("tools", "the simulator makes no tool calls");
  }
  if (!absent(body.tool_choice) && body.tool_choice !== "none" && body.tool_choice !== "auto") {
    refuse("tool_choice", "the simulator makes no tool calls");
  }
  const rf = body.response_format;
  if (!absent(rf) && !(isObject(rf) && rf.type === "text")) {
    refuse("response_format", "the simulator writes free text, not JSON or a schema");
  }
}

/** vLLM's context-length error. */
export function contextTooLong(maxModelLen: number, prompt: number, completion: number | undefined): HttpError {
  if (completion === undefined) {
    return badRequest(
      `This model's maximum context length is ${maxModelLen} tokens. However, your request has ${prompt} input tokens. ` +
        `Please reduce the length of the input messages.`,
    );
  }
  return badRequest(
    `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${prompt + completion} ` +
      `tokens (${prompt} in the messages, ${completion} in the completion). Please reduce the length of the messages ` +
      `or completion.`,
  );
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens served from the prefix cache (vLLM's `--enable-prompt-tokens-details` shape). */
  prompt_tokens_details: { cached_tokens: number } | null;
}

export function usage(prompt: number, completion: number, cachedTokens?: number): Usage {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: cachedTokens === undefined ? null : { cached_tokens: cachedTokens },
  };
}

export function fullResponse(
  endpoint: Endpoint,
  id: string,
  created: number,
  model: string,
  text: string,
  finishReason: string,
  u: Usage,
  stopReason: string | null = null,
): unknown {
  if (endpoint === "chat") {
    return {
      id,
      object: "chat.completion",
      created,
      model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: text, tool_calls: [] },
          logprobs: null,
          finish_reason: finishReason,
          stop_reason: stopReason,
        },
      ],
      usage: u,
    };
  }
  return {
    id,
    object: "text_completion",
    created,
    model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason, stop_reason: stopReason }],
    usage: u,
  };
}

/**
 * Pre-rendered SSE chunk pieces for one stream: a token chunk is `head + jsonText + tail`, so streaming costs one
 * string concatenation per token instead of a JSON.stringify.
 */
export class ChunkWriter {
  private readonly head: string;
  private readonly tail: string;
  private readonly finalHead: string;
  private readonly endpoint: Endpoint;
  private readonly envelope: string;

  constructor(endpoint: Endpoint, id: string, created: number, model: string) {
    this.endpoint = endpoint;
    const object = endpoint === "chat" ? "chat.completion.chunk" : "text_completion";
    this.envelope = `{"id":${JSON.stringify(id)},"object":"${object}","created":${created},"model":${JSON.stringify(model)}`;
    if (endpoint === "chat") {
      this.head = `data: ${this.envelope},"choices":[{"index":0,"delta":{"content":`;
      this.tail = `},"logprobs":null,"finish_reason":null}]}\n\n`;
    } else {
      this.head = `data: ${this.envelope},"choices":[{"index":0,"text":`;
      this.tail = `,"logprobs":null,"finish_reason":null}]}\n\n`;
    }
    this.finalHead = this.head;
  }

  /** The chat stream's opening chunk (the assistant role); empty for completions. */
  opening(): string {
    if (this.endpoint !== "chat") return "";
    return `data: ${this.envelope},"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
  }

  token(jsonText: string): string {
    return this.head + jsonText + this.tail;
  }

  /** The last token chunk, carrying the finish reason and the stop string that ended the output (if one did). */
  last(jsonText: string, finishReason: string, stopReason: string | null = null): string {
    const stop = JSON.stringify(stopReason);
    const tail =
      this.endpoint === "chat"
        ? `},"logprobs":null,"finish_reason":"${finishReason}","stop_reason":${stop}}]}\n\n`
        : `,"logprobs":null,"finish_reason":"${finishReason}","stop_reason":${stop}}]}\n\n`;
    return this.finalHead + jsonText + tail;
  }

  usage(u: Usage): string {
    return `data: ${this.envelope},"choices":[],"usage":${JSON.stringify(u)}}\n\n`;
  }

  done(): string {
    return "data: [DONE]\n\n";
  }

  error(e: HttpError): string {
    return `data: ${JSON.stringify(e.body())}\n\n`;
  }
}
