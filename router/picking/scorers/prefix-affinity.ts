// What both prefix scorers share: their options, the load guard, scores from match depths, new-prefix placement,
// and the engine's own block keys of a request.
import { Type } from "@sinclair/typebox";
import { isPrefixHashAlgo } from "../../../api/block-hash.js";
import type { LoraKey } from "../../prompts/engine-prompt.js";
import type { Candidate, PickRequest } from "../types.js";

export interface PrefixScorerOptions {
  blockSize: number;
  /** Skip prefix affinity when max − min in-flight across candidates exceeds this (and `imbalanceRel` holds). */
  imbalanceAbs: number;
  /**
   * ...and the busiest candidate has more than this many times the in-flight requests of the idlest (1 = any
   * gap over `imbalanceAbs` counts). Under heavy load a fixed gap is a small difference.
   */
  imbalanceRel?: number;
  /** Endpoints with in-flight above mean + k·max(σ, 1) get no prefix credit. */
  stdDevFactor: number;
  /**
   * Credit per block an engine would load from an offload or shared tier (KV events with a `medium` other than
   * GPU), against 1 for a block in its GPU and 0 for one to compute: the share of a block's computation a load saves
   * (`offloadedBlockWeightFor`). Default 0.5, for when the costs are not known.
   */
  offloadedBlockWeight?: number;
}

/** A loaded block costs a transfer, a computed one a prefill: without their costs, credit half way between. */
export const DEFAULT_OFFLOADED_BLOCK_WEIGHT = 0.5;

export interface TierCosts {
  /** Bandwidth between an engine and the tier, bytes per second. */
  tierBytesPerSecond: number;
  /** KV bytes of one token, all layers (2 × layers × KV heads × head dim × dtype bytes). */
  kvBytesPerToken: number;
  /** The engine's prefill time per prompt token. */
  prefillSecondsPerToken: number;
}

/**
 * The credit of a block held in a tier, from what getting it costs: a block in GPU saves its whole computation
 * (credit 1); one in the tier saves the computation less the load, 1 − load time / compute time (0 when loading is
 * no faster than computing). The block size cancels out.
 */
export function offloadedBlockWeightFor(c: TierCosts): number {
  for (const [field, value] of Object.entries(c)) {
    if (!(Number.isFinite(value) && value > 0))
      throw new RangeError(`${field}: ${String(value)} must be a positive number`);
  }
  const loadOverCompute = c.kvBytesPerToken / c.tierBytesPerSecond / c.prefillSecondsPerToken;
  return Math.max(0, 1 - loadOverCompute);
}

/**
 * The load guard's defaults are sglang-router's cache-aware ones (64 and 1.5×), not AIBrix's 8. AIBrix compares the
 * engines' running counts, which stop growing at max-num-seqs; the router's in-flight counts include each engine's
 * queue and keep growing under overload, where a gap of 8 is noise. Guarded at 8, a tenant's requests were handed to
 * whichever engine was less loaded at that instant, every engine came to cache every tenant, and hits fell exactly
 * when they matter. routing-quality runs the old guard beside the default (its "AIBrix guard" arm).
 */
export const defaultPrefixScorerOptions: PrefixScorerOptions = {
  blockSize: 16,
  imbalanceAbs: 64,
  imbalanceRel: 1.5,
  stdDevFactor: 1,
};

/**
 * Load guard shared by both prefix scorers: undefined = imbalanced (no prefix opinion), else the in-flight bound.
 * σ is taken as at least one request: in-flight counts are whole requests, and at light load σ is their granularity,
 * not a spread — with three endpoints and one request in flight (1, 0, 0) mean + σ is 0.8, which would take the
 * prefix credit from the endpoint holding the prefix for being busy with a single request.
 */
export function loadBound(cands: readonly Candidate[], o: PrefixScorerOptions): number | undefined {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const c of cands) {
    min = Math.min(min, c.inFlight);
    max = Math.max(max, c.inFlight);
    sum += c.inFlight;
  }
  if (max - min > o.imbalanceAbs && max > (o.imbalanceRel ?? 1) * min) return undefined;
  const mean = sum / cands.length;
  let v = 0;
  for (const c of cands) v += (c.inFlight - mean) ** 2;
  return mean + o.stdDevFactor * Math.max(1, Math.sqrt(v / cands.length));
}

export function fillFromDepths(
  cands: readonly Candidate[],
  out: Float64Array,
  depths: Map<string, number>,
  blocks: number,
  bound: number,
): void {
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i]!;
    out[i] = c.inFlight > bound ? 0 : (depths.get(c.id) ?? 0) / blocks;
  }
}

/** Credit (of 1, a full prefix match) for holding the fewest blocks when no endpoint holds the prefix. */
const NEW_PREFIX_CREDIT = 0.5;

/**
 * A prefix no endpoint holds goes to the endpoint holding the fewest blocks, as sglang-router's cache-aware policy
 * puts it on the smallest tree. A new prefix is usually a new tenant or conversation that will keep coming back, so
 * this spreads them evenly; whichever endpoint had the fewest requests in flight at the instant each first arrived
 * would leave one endpoint with a tenant more than another for the whole run. Credit is min-max over the blocks
 * held, so it outweighs a least-request tie-break of equal weight.
 */
export function placeNewPrefix(
  cands: readonly Candidate[],
  out: Float64Array,
  held: (id: string) => number,
  bound: number,
): void {
  let fewest = Infinity;
  let most = 0;
  for (let i = 0; i < cands.length; i++) {
    const n = held(cands[i]!.id);
    out[i] = n;
    if (n < fewest) fewest = n;
    if (n > most) most = n;
  }
  const span = most - fewest;
  for (let i = 0; i < cands.length; i++) {
    out[i] =
      cands[i]!.inFlight > bound ? 0 : span === 0 ? NEW_PREFIX_CREDIT : (NEW_PREFIX_CREDIT * (most - out[i]!)) / span;
  }
}

/**
 * The keys the candidates' KV events name the request's blocks by: the engine's tokens and vLLM's block hash, for
 * the block size and hash algorithm the engines report (candidates of one model share them) and, for an adapter,
 * the path the engines loaded it from. Undefined when they cannot be known: no tokenizer for the model, an algorithm
 * seeded per process (xxhash), an adapter whose path an engine has not reported, or engines that disagree.
 */
export function engineKeysFor(
  req: PickRequest,
  cands: readonly Candidate[],
  o: PrefixScorerOptions,
): readonly bigint[] | undefined {
  const first = cands[0];
  if (!req.engineKeys || !first) return undefined;
  const algo = first.metrics.prefixHashAlgo ?? "sha256";
  if (!isPrefixHashAlgo(algo)) return undefined;
  let lora: LoraKey | undefined;
  if (req.adapter) {
    const path = first.adapterPaths.get(req.adapter);
    if (path === undefined || cands.some((c) => c.adapterPaths.get(req.adapter!) !== path)) return undefined;
    lora = { name: req.adapter, path };
  }
  return req.engineKeys(first.metrics.blockSize ?? o.blockSize, algo, lora);
}

/** The parameters both prefix scorers take; each overrides the router-wide `prefix:` setting of its name. */
export const PrefixParameters = Type.Object(
  {
    blockSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
    imbalanceAbs: Type.Optional(Type.Number({ minimum: 0 })),
    imbalanceRel: Type.Optional(Type.Number({ minimum: 1 })),
    stdDevFactor: Type.Optional(Type.Number({ minimum: 0 })),
    offloadedBlockWeight: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);
