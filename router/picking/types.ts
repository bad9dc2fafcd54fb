// Endpoint picking as plugins: filters narrow the candidates, scorers rate them, a picker chooses one. Picking reads
// endpoints through `Candidate`, never the router's own endpoint class.
import type { IncomingHttpHeaders } from "node:http";
import type { PrefixHashAlgo } from "../../api/block-hash.js";
import type { EngineMetrics } from "../../engines/metric-names.js";
import type { LoraKey } from "../prompts/engine-prompt.js";

/** One endpoint as picking sees it: what filters and scorers read, and the read marks they leave. */
export interface Candidate {
  readonly id: string;
  /** Requests the router has in flight there now (always current). */
  readonly inFlight: number;
  /** The last scrape (read it through `metricsFresh`, or `wantMetrics` when age does not matter). */
  readonly metrics: EngineMetrics;
  /** Token rates between scrapes (tok/s). */
  readonly promptTps?: number;
  readonly genTps?: number;
  /** Share of recent scrapes in which the engine was running something. */
  readonly busyRatio?: number;
  /** Adapter name → the path the engine loaded it from. */
  readonly adapterPaths: ReadonlyMap<string, string>;
  readonly spec: { readonly labels?: Readonly<Record<string, string>> };
  hasAdapter(name: string): boolean;
  freeAdapterSlots(): number | undefined;
  isEjected(now: number): boolean;
  metricsFresh(now: number, staleAfterMs: number): boolean;
  wantMetrics(now: number): void;
}

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

/** How long each plugin took, by kind and name (the router's `router_picking_plugin_seconds`). */
export type PluginTiming = (kind: "filter" | "scorer" | "picker", name: string, seconds: number) => void;

export interface PickEnv {
  now: number;
  staleAfterMs: number;
  /** Every endpoint the router knows (not only the model's). */
  registry?: { all(): readonly Candidate[] };
  /** Set to time every plugin call. */
  timing?: PluginTiming;
}

export interface Scorer {
  readonly name: string;
  /**
   * Fill `out[i]` with a raw score for `cands[i]`, higher is better; NaN means "no opinion" (e.g. stale metrics).
   * Raw scores are min-max normalised to [0,1] per request unless `prescaled`.
   */
  score(req: PickRequest, cands: readonly Candidate[], out: Float64Array, env: PickEnv): void;
  readonly prescaled?: boolean;
  /** Told which endpoint was chosen (indices learn from routing decisions). */
  onPicked?(req: PickRequest, ep: Candidate, env: PickEnv): void;
}

export interface Filter {
  readonly name: string;
  /** Returns the kept candidates; must fail open (return the input) rather than return nothing when it is a preference. */
  filter<C extends Candidate>(req: PickRequest, cands: C[], env: PickEnv): C[];
}

export type PickerName = "max-score" | "random" | "weighted-random";

/** Chooses the winner from the weighted total scores of the candidates left after filtering. */
export interface Picker {
  readonly name: PickerName;
  /** Index of the chosen candidate in `total`. */
  choose(total: Float64Array): number;
}

export interface WeightedScorer {
  scorer: Scorer;
  weight: number;
  /** Set on the scorers every pipeline gets (see `PIPELINE_DEFAULTS`), so they are shown as such. */
  byDefault?: true;
}

/** A resolved picking pipeline (filters → weighted scorers → picker). `name` is reported in the `routing-strategy` response header. */
export interface Pipeline {
  name: string;
  filters: Filter[];
  scorers: WeightedScorer[];
  picker: Picker;
  /** Names of the filters every pipeline gets (listed first in `filters`). */
  defaultFilters?: readonly string[];
}
