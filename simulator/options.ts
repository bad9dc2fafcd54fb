// What `startSimulator` takes (the CLI's flags map onto these one to one).
import type { PrefixHashAlgo } from "../api/block-hash.js";
import type { FaultSettings } from "./faults.js";
import type { SharedKvTier } from "./shared-tier.js";

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
