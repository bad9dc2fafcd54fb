// A tenant of the router: its limits, its priority, which models it may use, and its API keys (hashed).
import { parsePriority } from "../fairness/priority.js";
import type { StoredKey } from "./keys.js";

export interface User {
  name: string;
  /** Requests per minute; null = no limit. */
  rpm: number | null;
  /** Tokens (prompt + completion) per minute; null = no limit. */
  tpm: number | null;
  /** Integer priority (InferenceObjective semantics); the highest a request of this user may claim. */
  priority?: number;
  /** Models (or adapters) this user may call; absent = all. */
  models?: string[];
  keys: StoredKey[];
}

/** What a client may send to create or update a user. */
export interface UserInput {
  name?: unknown;
  rpm?: unknown;
  tpm?: unknown;
  priority?: unknown;
  models?: unknown;
}

export interface FieldProblem {
  field: string;
  value: unknown;
  rule: string;
  message: string;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const MAX_LIMIT = 1e12;

/** Checks a create (`partial: false`) or update (`partial: true`) body. Limits are integers ≥ 0 or null (none). */
export function validateUserInput(body: unknown, partial: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return [{ field: "(body)", value: body, rule: "object", message: "request body must be a JSON object" }];
  }
  const b = body as Record<string, unknown>;
  const known = new Set(["name", "rpm", "tpm", "priority", "models"]);
  for (const k of Object.keys(b)) {
    if (!known.has(k)) {
      problems.push({
        field: k,
        value: b[k],
        rule: "known-field",
        message: `unknown field "${k}"; allowed: ${[...known].join(", ")}`,
      });
    }
  }
  if (!partial || b.name !== undefined) {
    if (typeof b.name !== "string" || !NAME_PATTERN.test(b.name)) {
      problems.push({
        field: "name",
        value: b.name,
        rule: "pattern",
        message: "name is required: 1-128 characters, letters, digits and . _ @ -, starting with a letter or digit",
      });
    }
  }
  for (const f of ["rpm", "tpm"] as const) {
    const v = b[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_LIMIT) {
      problems.push({
        field: f,
        value: v,
        rule: "integer >= 0",
        message: `${f} must be an integer >= 0 (or null for no limit), got ${JSON.stringify(v)}`,
      });
    }
  }
  if (b.priority !== undefined && b.priority !== null) {
    const p = parsePriority(b.priority);
    if (typeof p !== "number") {
      problems.push({ field: "priority", value: b.priority, rule: "priority", message: `priority ${p.error}` });
    }
  }
  if (b.models !== undefined && b.models !== null) {
    if (!Array.isArray(b.models) || b.models.some((m) => typeof m !== "string" || m.length === 0)) {
      problems.push({
        field: "models",
        value: b.models,
        rule: "string[]",
        message: "models must be an array of non-empty model names (omit it to allow every model)",
      });
    }
  }
  return problems;
}

/**
 * Applies a validated body to an existing user (or a fresh one). `aibrixZeroDefaults` (the AIBrix-compatible routes)
 * reads a 0 or missing limit as the AIBrix default: rpm 100, tpm rpm·1000.
 */
export function applyUserInput(base: User | undefined, body: UserInput, aibrixZeroDefaults: boolean): User {
  const user: User = base
    ? { ...base, keys: [...base.keys] }
    : { name: String(body.name), rpm: null, tpm: null, keys: [] };
  if (body.rpm !== undefined) user.rpm = body.rpm as number | null;
  if (body.tpm !== undefined) user.tpm = body.tpm as number | null;
  if (aibrixZeroDefaults) {
    if (user.rpm === 0 || user.rpm === null) user.rpm = 100;
    if (user.tpm === 0 || user.tpm === null) user.tpm = user.rpm * 1000;
  }
  if (body.priority === null) delete user.priority;
  else if (body.priority !== undefined) user.priority = parsePriority(body.priority) as number;
  if (body.models === null) delete user.models;
  else if (body.models !== undefined) user.models = [...(body.models as string[])];
  return user;
}

/** The user as the API shows it: never the key hashes. */
export function publicUser(u: User): Record<string, unknown> {
  return {
    name: u.name,
    rpm: u.rpm,
    tpm: u.tpm,
    ...(u.priority !== undefined ? { priority: u.priority } : {}),
    ...(u.models ? { models: u.models } : {}),
    keys: u.keys.map((k) => ({ id: k.id, createdAt: k.createdAt })),
  };
}
