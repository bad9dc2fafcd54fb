// What a picking plugin is: a named factory with typed parameters (a TypeBox schema, checked before the plugin is
// built), and what the router hands every factory.
import { Type, type Static, type TObject } from "@sinclair/typebox";
import type { KvBlockIndex } from "./kv-index.js";
import type { PrefixIndex } from "./prefix-index.js";
import type { PrefixScorerOptions } from "./scorers/prefix-affinity.js";
import type { Filter, Scorer } from "./types.js";
import type { UserTokenWindow } from "./user-token-window.js";

/** The router's state a plugin may build on. */
export interface PluginContext {
  /** Approximate prefix blocks the router sent each endpoint (prefix-cache's history). */
  prefixIndex: PrefixIndex;
  /** The blocks the engines report holding, from their KV events. */
  kvIndex: KvBlockIndex;
  /**
   * The engines' own block keys the router sent each endpoint (kv-prefix's history): one for the router, so every
   * pipeline that weighs kv-prefix learns from all of its decisions, as prefix-cache's pipelines share `prefixIndex`.
   */
  routedBlockKeys: PrefixIndex;
  /** The router-wide prefix settings (`prefix:` in the configuration); a pipeline's parameters override them. */
  prefixOptions: PrefixScorerOptions;
  /** vtc-basic's per-user token window (shared through Redis when the router has it). */
  userTokens: UserTokenWindow;
  /** The scorer serving `name` now (a Redis-shared version replaces the local one). */
  serving(name: string): Scorer | undefined;
  /** Told once per model that kv-prefix cannot name the engine's blocks and scores like prefix-cache instead. */
  onKvPrefixFallback(model: string): void;
}

export interface ScorerPlugin<P extends TObject = TObject> {
  name: string;
  /** One line for `--help` and the docs. */
  summary: string;
  parameters: P;
  create(params: Static<P>, ctx: PluginContext): Scorer;
}

export interface FilterPlugin<P extends TObject = TObject> {
  name: string;
  summary: string;
  parameters: P;
  create(params: Static<P>, ctx: PluginContext): Filter;
}

/** Parameters of a plugin that takes none. */
export const NO_PARAMETERS = Type.Object({}, { additionalProperties: false });

export function scorerPlugin<P extends TObject>(p: ScorerPlugin<P>): ScorerPlugin {
  return p as unknown as ScorerPlugin;
}

export function filterPlugin<P extends TObject>(p: FilterPlugin<P>): FilterPlugin {
  return p as unknown as FilterPlugin;
}

/** A plugin without parameters that is one shared object. */
export function fixedScorer(scorer: Scorer, summary: string): ScorerPlugin {
  return scorerPlugin({ name: scorer.name, summary, parameters: NO_PARAMETERS, create: () => scorer });
}

export function fixedFilter(filter: Filter, summary: string): FilterPlugin {
  return filterPlugin({ name: filter.name, summary, parameters: NO_PARAMETERS, create: () => filter });
}
