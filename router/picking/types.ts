// Endpoint picking as plugins: filters narrow the candidates, scorers rate them, a picker chooses one.
import type { IncomingHttpHeaders } from "node:http";
import type { PrefixHashAlgo } from "../../api/block-hash.js";
import type { LoraKey } from "../engine-prompt.js";
import type { Endpoint, EndpointRegistry } from "../endpoints.js";

/** What picking knows about one request. */
export interface PickRequest {
  /** Requested model name (a base model or an adapter). */
  model: string;
  /** Set when `model` is an adapter. */
  adapter?: string;
  /** Prompt text (chat messages joined by a space). */
  promptText: string;
  headers: IncomingHttpHeaders;
  /** Block hashes of the prompt for a block size (memoised per size). */
  hashes(blockSize: number): readonly bigint[];
  /**
   * The engine's own keys of the prompt's full blocks (its tokenizer, chat template and vLLM's block hash), as its
   * KV events name them; undefined when the model has no tokenizer configured or the prompt cannot be reproduced.
   */
  engineKeys?(blockSize: number, algo: PrefixHashAlgo, lora?: LoraKey): readonly bigint[] | undefined;
  /** 0 (or absent) for the first pick; retries of the same request on another endpoint count up. */
  attempt?: number;
}

export interface PickEnv {
  now: number;
  staleAfterMs: number;
  registry: EndpointRegistry;
}

export interface Scorer {
  readonly name: string;
  /**
   * Fill `out[i]` with a raw score for `cands[i]`, higher is better; NaN means "no opinion" (e.g. stale metrics).
   * Raw scores are min-max normalised to [0,1] per request unless `prescaled`.
   */
  score(req: PickRequest, cands: readonly Endpoint[], out: Float64Array, env: PickEnv): void;
  readonly prescaled?: boolean;
  /** Told which endpoint was chosen (indices learn from routing decisions). */
  onPicked?(req: PickRequest, ep: Endpoint, env: PickEnv): void;
}

export interface Filter {
  readonly name: string;
  /** Returns the kept candidates; must fail open (return the input) rather than return nothing when it is a preference. */
  filter(req: PickRequest, cands: Endpoint[], env: PickEnv): Endpoint[];
}

export type PickerName = "max-score" | "random" | "weighted-random";

export interface WeightedScorer {
  scorer: Scorer;
  weight: number;
}

/** A resolved routing profile. `name` is reported in the `routing-strategy` response header. */
export interface Profile {
  name: string;
  filters: Filter[];
  scorers: WeightedScorer[];
  picker: PickerName;
}
