// Parsing, validation and selection of config profiles (`model.aibrix.ai/config`). Errors name the field, the value
// and the rule. Fields the router does not know are ignored, so documents written for other gateways still load.
import type { ConfigProfile, ConfigProfileDoc, ConfigProfileMatch } from "./types.js";

export class ConfigProfileError extends Error {}

const MATCH_FIELDS = ["promptTokensGte", "promptTokensLt", "maxTokensGte", "maxTokensLt"] as const;

function fail(where: string, value: unknown, rule: string): never {
  throw new ConfigProfileError(`${where}: ${JSON.stringify(value)} ${rule}`);
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function optionalString(v: unknown, where: string, rule: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.trim() === "") fail(where, v, rule);
  return v.trim();
}

function parseMatch(v: unknown, where: string): ConfigProfileMatch {
  if (!isMapping(v)) fail(where, v, "must be a mapping of promptTokensGte/Lt, maxTokensGte/Lt");
  const out: ConfigProfileMatch = {};
  for (const k of MATCH_FIELDS) {
    const n = v[k];
    if (n === undefined) continue;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) fail(`${where}.${k}`, n, "must be an integer ≥ 0");
    out[k] = n;
  }
  return out;
}

function parseProfile(v: unknown, where: string): ConfigProfile {
  if (!isMapping(v)) fail(where, v, "must be a mapping with routingStrategy");
  const routingStrategy = optionalString(
    v.routingStrategy,
    `${where}.routingStrategy`,
    'must be a non-empty string: a strategy name or "a:w,b:w"',
  );
  if (routingStrategy === undefined) {
    fail(`${where}.routingStrategy`, v.routingStrategy, 'is required: a strategy name or "a:w,b:w"');
  }
  const p: ConfigProfile = { routingStrategy };
  if (v.routingConfig !== undefined) {
    if (!isMapping(v.routingConfig)) fail(`${where}.routingConfig`, v.routingConfig, "must be a mapping");
    p.routingConfig = v.routingConfig;
  }
  if (v.requestsPerSecond !== undefined) {
    const r = v.requestsPerSecond;
    if (typeof r !== "number" || !Number.isFinite(r) || r < 0) fail(`${where}.requestsPerSecond`, r, "must be ≥ 0");
    p.requestsPerSecond = r;
  }
  if (v.match !== undefined) p.match = parseMatch(v.match, `${where}.match`);
  return p;
}

/**
 * Validate a profile document: a JSON string (the annotation) or an already parsed mapping (the static file).
 * `where` prefixes every error, e.g. `pod default/llama-0 annotation model.aibrix.ai/config`.
 */
export function parseConfigProfiles(input: unknown, where: string): ConfigProfileDoc {
  let doc = input;
  if (typeof input === "string") {
    try {
      doc = JSON.parse(input);
    } catch (err) {
      throw new ConfigProfileError(`${where}: not valid JSON (${(err as Error).message}); expected {"profiles": {…}}`);
    }
  }
  if (!isMapping(doc)) fail(where, doc, 'must be an object like {"profiles": {"default": {"routingStrategy": "…"}}}');
  const lockedRoutingStrategy = optionalString(
    doc.lockedRoutingStrategy,
    `${where}.lockedRoutingStrategy`,
    'must be a non-empty string: a strategy name or "a:w,b:w"',
  );
  const defaultProfile = optionalString(
    doc.defaultProfile,
    `${where}.defaultProfile`,
    "must be a non-empty string naming one of profiles",
  );
  if (!isMapping(doc.profiles)) fail(`${where}.profiles`, doc.profiles, "is required: a mapping of name → profile");
  const profiles: Record<string, ConfigProfile> = {};
  for (const [name, p] of Object.entries(doc.profiles)) profiles[name] = parseProfile(p, `${where}.profiles.${name}`);
  if (defaultProfile !== undefined && !(defaultProfile in profiles)) {
    fail(`${where}.defaultProfile`, defaultProfile, `must name one of profiles (${Object.keys(profiles).join(", ")})`);
  }
  const out: ConfigProfileDoc = { profiles };
  if (lockedRoutingStrategy !== undefined) out.lockedRoutingStrategy = lockedRoutingStrategy;
  if (defaultProfile !== undefined) out.defaultProfile = defaultProfile;
  return out;
}

/** What a profile's `match` can test, computed only when some profile has a `match`. */
export interface RequestFacts {
  promptTokens(): number;
  maxTokens?: number;
}

function matches(m: ConfigProfileMatch, facts: RequestFacts): boolean {
  if (m.maxTokensGte !== undefined || m.maxTokensLt !== undefined) {
    const t = facts.maxTokens;
    if (t === undefined) return false;
    if (m.maxTokensGte !== undefined && t < m.maxTokensGte) return false;
    if (m.maxTokensLt !== undefined && t >= m.maxTokensLt) return false;
  }
  if (m.promptTokensGte !== undefined || m.promptTokensLt !== undefined) {
    const p = facts.promptTokens();
    if (m.promptTokensGte !== undefined && p < m.promptTokensGte) return false;
    if (m.promptTokensLt !== undefined && p >= m.promptTokensLt) return false;
  }
  return true;
}

/**
 * The profile for a request: the one the `config-profile` header names; else the first (in document order) whose
 * `match` holds; else `defaultProfile`; else "default"; else none.
 */
export function selectConfigProfile(
  doc: ConfigProfileDoc,
  requested: string | undefined,
  facts: RequestFacts,
): { name: string; profile: ConfigProfile } | undefined {
  if (requested) {
    const p = doc.profiles[requested];
    if (p) return { name: requested, profile: p };
  }
  for (const [name, p] of Object.entries(doc.profiles)) {
    if (p.match && matches(p.match, facts)) return { name, profile: p };
  }
  for (const name of [doc.defaultProfile, "default"]) {
    if (name && doc.profiles[name]) return { name, profile: doc.profiles[name] };
  }
  return undefined;
}
