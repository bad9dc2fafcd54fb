// Strategy names and weighted expressions ("prefix-cache:3,least-request:2") resolved into pipelines, plus named
// pipelines from configuration, all built from the plugin registry. Every AIBrix strategy name is a ready pipeline.
import { adapterLoaded, externalFilter } from "./filters.js";
import type { KvBlockIndex } from "./kv-index.js";
import { PICKERS } from "./pickers.js";
import type { PluginContext } from "./plugin.js";
import { defaultPrefixIndexOptions, PrefixIndex } from "./prefix-index.js";
import { buildFilter, buildScorer, FILTER_PLUGINS, PluginError, SCORER_PLUGINS } from "./registry.js";
import { leastRequest } from "./scorers/least-request.js";
import { loraAffinity } from "./scorers/lora-affinity.js";
import { defaultPrefixScorerOptions, type PrefixScorerOptions } from "./scorers/prefix-affinity.js";
import type { Filter, PickerName, Pipeline, Scorer, WeightedScorer } from "./types.js";
import { UserTokenWindow } from "./user-token-window.js";

/** A pipeline as written in the router's YAML configuration. */
export interface PipelineConfig {
  filters?: string[];
  /** `parameters` are the scorer's own (see its plugin's schema); without them the shared instance serves. */
  scorers: { name: string; weight?: number; parameters?: Record<string, unknown> }[];
  picker?: PickerName;
}

/** The router-wide indexes every pipeline built from the catalog reads and feeds. */
export interface CatalogIndexes {
  prefixIndex: PrefixIndex;
  kvIndex: KvBlockIndex;
  /** kv-prefix's routing history; the catalog keeps its own when none is given (tests). */
  routedBlockKeys?: PrefixIndex;
}

export class StrategyError extends Error {}

const MAX_WEIGHT = 1e6;

/**
 * What every pipeline gets besides what it names, shown as such by `describePipeline` (and in `--help` and
 * docs/architecture.md): two filters first, and two scorers last.
 */
export const PIPELINE_DEFAULTS = {
  /** Adapter requests go only where the adapter is loaded; the `external-filter` header narrows by labels. */
  filters: [adapterLoaded, externalFilter] as readonly Filter[],
  /** Equal scores go to the less loaded endpoint, unless the pipeline weighs in-flight requests or is random alone. */
  tieBreak: { scorer: leastRequest, weight: 1e-3 },
  /** Where an adapter is resident always counts a little. */
  adapterResidency: { scorer: loraAffinity, weight: 0.5 },
} as const;

export class PipelineCatalog {
  readonly scorers = new Map<string, Scorer>();
  private named = new Map<string, Pipeline>();
  private cache = new Map<string, Pipeline>();
  private readonly ctx: PluginContext;

  constructor(
    indexes: CatalogIndexes,
    prefixOptions: PrefixScorerOptions = defaultPrefixScorerOptions,
    pipelines: Record<string, PipelineConfig> = {},
    /** Scorers replacing built-ins of the same name (e.g. versions sharing state through Redis). */
    overrides: Scorer[] = [],
    /** Told once per model that kv-prefix cannot name the engine's blocks and scores like prefix-cache instead. */
    onKvPrefixFallback: (model: string) => void = () => {},
  ) {
    this.ctx = {
      prefixIndex: indexes.prefixIndex,
      kvIndex: indexes.kvIndex,
      routedBlockKeys: indexes.routedBlockKeys ?? new PrefixIndex(defaultPrefixIndexOptions),
      prefixOptions,
      userTokens: new UserTokenWindow(),
      serving: (name) => this.scorers.get(name),
      onKvPrefixFallback,
    };
    // In registry order, a shared version in place of the local one: kv-prefix falls back to the prefix-cache
    // scorer that serves.
    for (const plugin of SCORER_PLUGINS) {
      const shared = overrides.find((s) => s.name === plugin.name);
      this.scorers.set(plugin.name, shared ?? buildScorer(plugin.name, {}, this.ctx, plugin.name)!);
    }
    for (const s of overrides) if (!this.scorers.has(s.name)) this.scorers.set(s.name, s);
    // Ready-made combinations. Load is judged by the router's own in-flight counts (always current): KV usage is a
    // poor load signal under prefix caching (caches stay full of reusable blocks) and scraped numbers lag.
    this.defineNamed("kv-prefix-load", {
      scorers: [
        { name: "kv-prefix", weight: 3 },
        { name: "least-request", weight: 1 },
      ],
    });
    for (const [name, cfg] of Object.entries(pipelines)) this.defineNamed(name, cfg);
  }

  names(): string[] {
    return [...new Set([...this.scorers.keys(), ...this.named.keys()])].sort();
  }

  private defineNamed(name: string, cfg: PipelineConfig): void {
    if (!Array.isArray(cfg.scorers) || cfg.scorers.length === 0) {
      throw new StrategyError(
        `pipelines.${name}.scorers: must list at least one scorer (e.g. [{name: least-request}])`,
      );
    }
    const filters: Filter[] = (cfg.filters ?? []).map((f, i) => {
      const found = pluginOrError(() => buildFilter(f, {}, this.ctx, `pipelines.${name}.filters[${i}]`));
      if (!found) {
        const known = FILTER_PLUGINS.map((p) => p.name).join(", ");
        throw new StrategyError(`pipelines.${name}.filters[${i}]: "${f}" is not a filter; known: ${known}`);
      }
      return found;
    });
    const scorers = cfg.scorers.map((s, i) =>
      this.weighted(s.name, s.weight ?? 1, `pipelines.${name}.scorers[${i}]`, s.parameters),
    );
    const picker = cfg.picker ?? "max-score";
    if (!Object.hasOwn(PICKERS, picker)) {
      throw new StrategyError(`pipelines.${name}.picker: "${picker}" must be max-score, random or weighted-random`);
    }
    this.named.set(name, this.finish(name, filters, scorers, picker));
  }

  private weighted(name: string, weight: number, where: string, parameters?: Record<string, unknown>): WeightedScorer {
    const scorer =
      parameters === undefined
        ? this.scorers.get(name)
        : pluginOrError(() => buildScorer(name, parameters, this.ctx, where));
    if (!scorer) {
      throw new StrategyError(`${where}: unknown routing strategy "${name}"; known: ${this.names().join(", ")}`);
    }
    if (!Number.isFinite(weight) || weight < 0 || weight > MAX_WEIGHT) {
      throw new StrategyError(`${where}: weight ${weight} for "${name}" must be a number from 0 to ${MAX_WEIGHT}`);
    }
    return { scorer, weight };
  }

  /** The pipeline's own plugins with PIPELINE_DEFAULTS added, each default marked as one. */
  private finish(name: string, filters: Filter[], scorers: WeightedScorer[], picker: PickerName): Pipeline {
    const all = [...scorers];
    const { tieBreak, adapterResidency } = PIPELINE_DEFAULTS;
    const weighsLoad = all.some((s) => s.scorer.name === tieBreak.scorer.name);
    const randomAlone = all.length === 1 && all[0]!.scorer.name === "random";
    if (!weighsLoad && !randomAlone) all.push({ ...tieBreak, byDefault: true });
    all.push({ ...adapterResidency, byDefault: true });
    return {
      name,
      filters: [...PIPELINE_DEFAULTS.filters, ...filters],
      defaultFilters: PIPELINE_DEFAULTS.filters.map((f) => f.name),
      scorers: all.filter((s) => s.weight > 0),
      picker: PICKERS[picker],
    };
  }

  /** Resolve a strategy name, a named pipeline, or a weighted list `a:w,b:w`. Throws `StrategyError` (→ 400). */
  resolve(expr: string): Pipeline {
    const key = expr.trim();
    const cached = this.cache.get(key);
    if (cached) return cached;
    const named = this.named.get(key);
    if (named) return named;
    if (key === "") throw new StrategyError(`routing-strategy is empty; known: ${this.names().join(", ")}`);
    const scorers = key.split(",").map((part) => this.weightedPart(expr, part));
    if (scorers.every((s) => s.weight === 0)) {
      throw new StrategyError(`routing-strategy "${expr}": every weight is 0; at least one must be positive`);
    }
    const pipeline = this.finish(key, [], scorers, "max-score");
    if (this.cache.size < 1000) this.cache.set(key, pipeline);
    return pipeline;
  }

  /** One `name` or `name:weight` of a strategy expression. */
  private weightedPart(expr: string, part: string): WeightedScorer {
    const [rawName, rawWeight, extra] = part.split(":").map((x) => x.trim());
    if (extra !== undefined || !rawName) {
      throw new StrategyError(`routing-strategy "${expr}": "${part.trim()}" must be name or name:weight`);
    }
    const weight = rawWeight === undefined || rawWeight === "" ? 1 : Number(rawWeight);
    if (rawWeight !== undefined && !/^\d+(\.\d+)?$/.test(rawWeight)) {
      throw new StrategyError(
        `routing-strategy "${expr}": weight "${rawWeight}" for "${rawName}" must be a number from 0 to ${MAX_WEIGHT}`,
      );
    }
    const namedOne = this.named.get(rawName);
    if (namedOne && namedOne.scorers.length > 0 && !this.scorers.has(rawName)) {
      throw new StrategyError(`routing-strategy "${expr}": pipeline "${rawName}" cannot be combined; use it alone`);
    }
    return this.weighted(rawName, weight, `routing-strategy "${expr}"`);
  }
}

function pluginOrError<T>(build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (err instanceof PluginError) throw new StrategyError(err.message);
    throw err;
  }
}

/**
 * A pipeline in one line, defaults marked: `adapter-loaded* → external-filter* → prefix-cache×3 + least-request×0.001*
 * + lora-affinity×0.5* → max-score` (`*`: added to every pipeline, see PIPELINE_DEFAULTS).
 */
export function describePipeline(p: Pipeline): string {
  const defaults = new Set(p.defaultFilters ?? []);
  const filters = p.filters.map((f) => (defaults.has(f.name) ? `${f.name}*` : f.name));
  const scorers = p.scorers.map((s) => `${s.scorer.name}×${s.weight}${s.byDefault ? "*" : ""}`).join(" + ");
  return [...filters, scorers, p.picker.name].join(" → ");
}
