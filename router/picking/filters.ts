// Filters: narrow the candidate endpoints before scoring.
import { utilization } from "./scorers/least-utilization.js";
import { fixedFilter, type FilterPlugin } from "./plugin.js";
import type { Filter } from "./types.js";

/** Adapter requests go only to endpoints that have the adapter loaded (a hard rule: never fails open). */
export const adapterLoaded: Filter = {
  name: "adapter-loaded",
  filter(req, cands) {
    const adapter = req.adapter;
    if (!adapter) return cands;
    return cands.filter((c) => c.hasAdapter(adapter));
  },
};

/**
 * `external-filter: key=value[,key2=value2]` keeps endpoints whose labels match every pair (`key!=value` excludes).
 * Malformed pairs are rejected before picking (see `parseLabelSelector`).
 */
export const externalFilter: Filter = {
  name: "external-filter",
  filter(req, cands) {
    const raw = req.headers["external-filter"];
    if (typeof raw !== "string" || raw.trim() === "") return cands;
    const sel = parseLabelSelector(raw);
    return cands.filter((c) => {
      const labels = c.spec.labels ?? {};
      return sel.every(({ key, value, negate }) => (labels[key] === value) !== negate);
    });
  },
};

export interface LabelRequirement {
  key: string;
  value: string;
  negate: boolean;
}

export class SelectorError extends Error {}

export function parseLabelSelector(raw: string): LabelRequirement[] {
  return raw
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map((p) => {
      const m = /^([A-Za-z0-9._/-]+)\s*(!=|==|=)\s*([A-Za-z0-9._-]*)$/.exec(p);
      if (!m) {
        throw new SelectorError(
          `external-filter "${raw}": requirement "${p}" is not of the form key=value or key!=value`,
        );
      }
      return { key: m[1]!, value: m[3]!, negate: m[2] === "!=" };
    });
}

/** Drops endpoints that are saturated (utilisation > 1.2) or stale; fails open when that would drop all of them. */
export const notSaturated: Filter = {
  name: "not-saturated",
  filter(_req, cands, env) {
    const kept = cands.filter((c) => {
      if (!c.metricsFresh(env.now, env.staleAfterMs)) return false;
      const u = utilization(c);
      return u === undefined || u <= 1.2;
    });
    return kept.length > 0 ? kept : cands;
  },
};

export const FILTERS: Record<string, Filter> = {
  [notSaturated.name]: notSaturated,
};

/** Filters a pipeline may name (`filters:`); adapter-loaded and external-filter are in every pipeline already. */
export const FILTER_PLUGINS: readonly FilterPlugin[] = [
  fixedFilter(
    notSaturated,
    "drops saturated (utilisation > 1.2) or stale endpoints; keeps all when none would be left",
  ),
];
