// What the request path needs from the router that runs it: its registries, indexes, policies and counters. The
// router builds one of these at start; every stage reads what it needs from it.
import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { BlockKeyCache } from "../../api/block-key-cache.js";
import type { ModelTokenizer } from "../../api/model-tokenizer.js";
import type { FlowControl, FlowTicket, TokenUsage } from "../flow-control/control.js";
import type { StaticKeys } from "../flow-control/auth/static-keys.js";
import type { Endpoint, EndpointRegistry } from "../endpoints/endpoints.js";
import type { RouterMetrics } from "../metrics/metrics.js";
import type { PrefillCoalescer, PrefillCoalescingOptions, PrefillSlot } from "../forwarding/prefill-coalescing.js";
import type { PluginTiming, Pipeline } from "../picking/types.js";
import type { PromptCache } from "../prompts/prompt-cache.js";
import type { StrategySelector } from "../profiles/strategy.js";
import type { Cancellation, PhaseTimeouts, sendUpstream } from "../forwarding/proxy.js";
import type { PickRequestView } from "../prompts/request-views.js";
import type { Turns } from "./turns.js";
import type { RetryBudget, RetryPolicy } from "./retry.js";

export interface RequestPathParts {
  log: Logger;
  registry: EndpointRegistry;
  metrics: RouterMetrics;
  strategies: StrategySelector;
  flowControl: FlowControl;
  apiKeys?: StaticKeys;
  /** Largest request body before the engines report their context lengths. */
  maxBodyBytes: number;
  /** Yields between the steps of a large body's processing. */
  largeSteps: Turns;
  promptCache: PromptCache;
  tokenizers: ReadonlyMap<string, ModelTokenizer>;
  /** The engines' PYTHONHASHSEED, when they run with one. */
  prefixHashSeed?: string;
  /** vLLM block keys of prompt prefixes already seen (models with a tokenizer). */
  blockKeyCache: BlockKeyCache;
  prefills: PrefillCoalescer;
  coalescing: PrefillCoalescingOptions;
  staleAfterMs: number;
  timeouts: PhaseTimeouts;
  retry: RetryPolicy;
  budget: RetryBudget;
  upstream: { apiKey?: string; forwardAuthorization: boolean };
  /** One JSON line per request at info level (unless false). */
  accessLog?: boolean;
  /** Models discovery has named, served or not. */
  knownModel(model: string): boolean;
  /** Says once per model that its config profile's requestsPerSecond is not enforced without flow control. */
  warnUnenforcedRps(model: string): void;
  /** Records a failure of `ep` (and ejects it when the policy says so). */
  onEndpointFailure(ep: Endpoint, why: string): void;
  send: typeof sendUpstream;
  /** Records each picking plugin's time (router_picking_plugin_seconds). */
  pluginTiming: PluginTiming;
}

/** One admitted request on its way to an engine. */
export interface Forwarding {
  requestId: string;
  model: string;
  path: string;
  raw: Buffer;
  stream: boolean;
  pipeline: Pipeline;
  pickRequest: PickRequestView;
  pool: readonly Endpoint[];
  res: ServerResponse;
  cancel: Cancellation;
  ticket?: FlowTicket;
  /** Headers every answer carries (request id, strategy, config profile). */
  baseHeaders: Record<string, string>;
  upstreamHeaders: Record<string, string>;
  started: number;
  /** Ends the request's accounting (flow-control ticket, request counter) once. */
  finish(status: number, usage?: TokenUsage): void;
  /** The cold-prefix slot of the attempt in flight. */
  prefill?: PrefillSlot;
}
