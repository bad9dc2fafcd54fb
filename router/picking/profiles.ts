// Strategy names and weighted expressions ("prefix-cache:3,least-request:2") resolved into profiles, plus named
// profiles from configuration. Every AIBrix strategy name is a ready profile.
import { adapterLoaded, externalFilter, FILTERS } from "./filters.js";
import type { KvBlockIndex } from "./kv-index.js";
import type { PrefixIndex } from "./prefix-index.js";
import {
  defaultPrefixScorerOptions,
  kvPrefixScorer,
  leastBusyTime,
  leastGpuCache,
  leastKvCache,
  leastLatency,
  leastRequest,
  leastUtilization,
  loraAffinity,
  powerOfTwo,
  prefixCacheScorer,
  queueScorer,
  randomScorer,
  sessionAffinity,
  throughput,
  type PrefixScorerOptions,
} from "./scorers.js";
import type { Filter, PickerName, Profile, Scorer, WeightedScorer } from "./types.js";
import { UserTokenWindow } from "./user-token-window.js";
import { vtcBasicScorer } from "./scorers/vtc-basic.js";

/** A profile as written in the router's YAML configuration. */
export interface ProfileConfig {
  filters?: string[];
  scorers: { name: string; weight?: number }[];
  picker?: PickerName;
}

export class StrategyError extends Error {}

const MAX_WEIGHT = 1e6;
/** Small weight for the in-flight tie-break so equal scores go to the less loaded endpoint. */
const TIE_BREAK = 1e-3;

export class ProfileCatalog {
  readonly scorers: Map<string, Scorer>;
  private named = new Map<string, Profile>();
  private cache = new Map<string, Profile>();

  constructor(
    prefixIndex: PrefixIndex,
    kvIndex: KvBlockIndex,
    prefixOptions: PrefixScorerOptions = defaultPrefixScorerOptions,
    profiles: Record<string, ProfileConfig> = {},
    /** Scorers replacing built-ins of the same name (e.g. versions sharing state through Redis). */
    overrides: Scorer[] = [],
    /** Told once per model that kv-prefix cannot name the engine's blocks and scores like prefix-cache instead. */
    onKvPrefixFallback: (model: string) => void = () => {},
  ) {
    // kv-prefix falls back to whichever prefix-cache scorer serves (a Redis-shared one replaces the local one).
    const prefixCache =
      overrides.find((s) => s.name === "prefix-cache") ?? prefixCacheScorer(prefixIndex, prefixOptions);
    const list: Scorer[] = [
      randomScorer,
      leastRequest,
      throughput,
      leastKvCache,
      leastGpuCache,
      leastBusyTime,
      leastUtilization,
      leastLatency,
      powerOfTwo,
      prefixCache,
      sessionAffinity,
      kvPrefixScorer(kvIndex, prefixOptions, undefined, prefixCache, onKvPrefixFallback),
      queueScorer,
      loraAffinity,
      vtcBasicScorer(new UserTokenWindow()),
      ...overrides,
    ];
    this.scorers = new Map(list.map((s) => [s.name, s]));
    // Ready-made combinations. Load is judged by the router's own in-flight counts (always current): KV usage is a
    // poor load signal under prefix caching (caches stay full of reusable blocks) and scraped numbers lag.
    this.defineNamed("kv-prefix-load", {
      scorers: [
        { name: "kv-prefix", weight: 3 },
        { name: "least-request", weight: 1 },
      ],
    });
    for (const [name, cfg] of Object.entries(profiles)) this.defineNamed(name, cfg);
  }

  names(): string[] {
    return [...new Set([...this.scorers.keys(), ...this.named.keys()])].sort();
  }

  private defineNamed(name: string, cfg: ProfileConfig): void {
    if (!Array.isArray(cfg.scorers) || cfg.scorers.length === 0) {
      throw new StrategyError(`profiles.${name}.scorers: must list at least one scorer (e.g. [{name: least-request}])`);
    }
    const filters: Filter[] = (cfg.filters ?? []).map((f, i) => {
      const found = FILTERS[f];
      if (!found) {
        throw new StrategyError(
          `profiles.${name}.filters[${i}]: "${f}" is not a filter; known: ${Object.keys(FILTERS).join(", ")}`,
        );
      }
      return found;
    });
    const scorers = cfg.scorers.map((s, i) => this.weighted(s.name, s.weight ?? 1, `profiles.${name}.scorers[${i}]`));
    const picker = cfg.picker ?? "max-score";
    if (!["max-score", "random", "weighted-random"].includes(picker)) {
      throw new StrategyError(`profiles.${name}.picker: "${picker}" must be max-score, random or weighted-random`);
    }
    this.named.set(name, this.finish(name, filters, scorers, picker));
  }

  private weighted(name: string, weight: number, where: string): WeightedScorer {
    const scorer = this.scorers.get(name);
    if (!scorer) {
      throw new StrategyError(`${where}: unknown routing strategy "${name}"; known: ${this.names().join(", ")}`);
    }
    if (!Number.isFinite(weight) || weight < 0 || weight > MAX_WEIGHT) {
      throw new StrategyError(`${where}: weight ${weight} for "${name}" must be a number from 0 to ${MAX_WEIGHT}`);
    }
    return { scorer, weight };
  }

  /** Built-in filters first; in-flight tie-break last, unless the profile already weighs in-flight requests. */
  private finish(name: string, filters: Filter[], scorers: WeightedScorer[], picker: PickerName): Profile {
    const all = [...scorers];
    if (!all.some((s) => s.scorer === leastRequest) && !all.some((s) => s.scorer === randomScorer && all.length === 1))
      all.push({ scorer: leastRequest, weight: TIE_BREAK });
    all.push({ scorer: loraAffinity, weight: 0.5 });
    return {
      name,
      filters: [adapterLoaded, externalFilter, ...filters],
      scorers: all.filter((s) => s.weight > 0),
      picker,
    };
  }

  /** Resolve a strategy name, a named profile, or a weighted list `a:w,b:w`. Throws `StrategyError` (→ 400). */
  resolve(expr: string): Profile {
    const key = expr.trim();
    const cached = this.cache.get(key);
    if (cached) return cached;
    const named = this.named.get(key);
    if (named) return named;
    if (key === "") throw new StrategyError(`routing-strategy is empty; known: ${this.names().join(", ")}`);
    const scorers = key.split(",").map((part) => {
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
        throw new StrategyError(`routing-strategy "${expr}": profile "${rawName}" cannot be combined; use it alone`);
      }
      return this.weighted(rawName!, weight, `routing-strategy "${expr}"`);
    });
    if (scorers.every((s) => s.weight === 0)) {
      throw new StrategyError(`routing-strategy "${expr}": every weight is 0; at least one must be positive`);
    }
    const profile = this.finish(key, [], scorers, "max-score");
    if (this.cache.size < 1000) this.cache.set(key, profile);
    return profile;
  }
}
