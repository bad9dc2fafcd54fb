// The GPU optimizer's published answer: for each deployment, how many replicas it should run on each GPU type.
// One writer (the optimizer) replaces the whole document; readers (the extender, dashboards) only read it.
// Published as a file or as ConfigMap `aibrix-gpu-optimizer-recommendations`, data key `recommendations.json`:
//
//   { "recommendations": [
//       { "namespace": "default", "deployment": "llama-3-8b", "model": "llama-3-8b",
//         "recommended": { "A10G": 3, "A100-80GB": 1 }, "created": 1730000000 } ] }
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { formatProblem, joinPath, ProblemList, type Problem } from "./problem.js";

export const RECOMMENDATIONS_CONFIGMAP = "aibrix-gpu-optimizer-recommendations";
export const RECOMMENDATIONS_CONFIGMAP_KEY = "recommendations.json";

export interface GpuMixRecommendation {
  namespace: string;
  deployment: string;
  model?: string;
  /** Replicas wanted per GPU type (type names as in the profile document's `gpus`). */
  recommended: Record<string, number>;
  /** Unix seconds when the optimizer solved for this mix. */
  created?: number;
}

export interface RecommendationDocument {
  recommendations: GpuMixRecommendation[];
}

/** Lookup by `namespace/deployment`. */
export class RecommendationSet {
  private readonly byKey = new Map<string, GpuMixRecommendation>();

  constructor(readonly doc: RecommendationDocument) {
    for (const r of doc.recommendations) this.byKey.set(`${r.namespace}/${r.deployment}`, r);
  }

  static empty(): RecommendationSet {
    return new RecommendationSet({ recommendations: [] });
  }

  get(namespace: string, deployment: string): GpuMixRecommendation | undefined {
    return this.byKey.get(`${namespace}/${deployment}`);
  }

  /** Same lookup with a precomputed `namespace/deployment` key. */
  getByKey(key: string): GpuMixRecommendation | undefined {
    return this.byKey.get(key);
  }
}

export class RecommendationError extends Error {
  constructor(
    readonly source: string,
    readonly problems: Problem[],
  ) {
    super(`GPU mix recommendations from ${source} are invalid: ${problems.map(formatProblem).join("; ")}`);
    this.name = "RecommendationError";
  }
}

export function parseRecommendations(text: string, source = "input"): RecommendationSet {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new RecommendationError(source, [{ path: "", value: text.slice(0, 40), rule: "syntax", message: msg }]);
  }
  const problems = new ProblemList();
  const recs: GpuMixRecommendation[] = [];
  const list = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>).recommendations : undefined;
  if (!Array.isArray(list)) {
    problems.add("recommendations", list, "array", "give {recommendations: [{namespace, deployment, recommended}]}");
  } else {
    const seen = new Set<string>();
    list.forEach((r, i) => {
      const path = joinPath("recommendations", i);
      if (typeof r !== "object" || r === null || Array.isArray(r)) {
        problems.add(path, r, "object", "give {namespace, deployment, recommended}");
        return;
      }
      const o = r as Record<string, unknown>;
      for (const k of ["namespace", "deployment"] as const) {
        if (typeof o[k] !== "string" || o[k] === "") {
          problems.add(joinPath(path, k), o[k], "required string", `name the ${k} this mix is for`);
        }
      }
      if (o.model !== undefined && typeof o.model !== "string") {
        problems.add(joinPath(path, "model"), o.model, "string", "give the model name or leave it out");
      }
      const recommended: Record<string, number> = {};
      if (typeof o.recommended !== "object" || o.recommended === null || Array.isArray(o.recommended)) {
        problems.add(joinPath(path, "recommended"), o.recommended, "object", "map GPU type to replica count");
      } else {
        for (const [gpu, n] of Object.entries(o.recommended)) {
          if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
            problems.add(joinPath(joinPath(path, "recommended"), gpu), n, "integer >= 0", "give a replica count");
          } else recommended[gpu] = n;
        }
      }
      if (o.created !== undefined && (typeof o.created !== "number" || o.created < 0)) {
        problems.add(joinPath(path, "created"), o.created, "unix seconds", "give a non-negative number");
      }
      const key = `${String(o.namespace)}/${String(o.deployment)}`;
      if (seen.has(key)) problems.add(path, key, "one entry per deployment", "remove the duplicate");
      seen.add(key);
      const rec: GpuMixRecommendation = {
        namespace: String(o.namespace),
        deployment: String(o.deployment),
        recommended,
      };
      if (typeof o.model === "string") rec.model = o.model;
      if (typeof o.created === "number") rec.created = o.created;
      recs.push(rec);
    });
  }
  if (problems.items.length > 0) throw new RecommendationError(source, problems.items);
  return new RecommendationSet({ recommendations: recs });
}

export async function loadRecommendationsFile(file: string): Promise<RecommendationSet> {
  return parseRecommendations(await readFile(file, "utf8"), file);
}
