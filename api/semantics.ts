// Checks shared by several kinds: things a JSON schema cannot say.
import type { LabelSelector } from "./schema.js";
import { joinPath, type ProblemList } from "./problem.js";

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** metadata.name (or generateName) present and a DNS-1123 subdomain. */
export function checkObjectName(obj: Record<string, unknown>, problems: ProblemList): void {
  const metadata = obj.metadata;
  if (!isRecord(metadata)) {
    problems.add("metadata", metadata, "required", "metadata with a name is required");
    return;
  }
  const { name, generateName } = metadata;
  if (name === undefined && generateName === undefined) {
    problems.add("metadata.name", name, "required", "metadata.name (or metadata.generateName) is required");
    return;
  }
  if (name !== undefined) {
    if (typeof name !== "string" || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
      problems.add(
        "metadata.name",
        name,
        "dns1123-subdomain",
        "must be lowercase letters, digits, '-' and '.', start and end alphanumeric, at most 253 characters",
      );
    }
  }
}

/** Rules of metav1.LabelSelector beyond its shape: In/NotIn need values, Exists/DoesNotExist take none. */
export function checkLabelSelector(selector: unknown, path: string, problems: ProblemList): void {
  if (!isRecord(selector)) return;
  const expressions = selector.matchExpressions;
  if (!Array.isArray(expressions)) return;
  expressions.forEach((expr: unknown, i) => {
    if (!isRecord(expr)) return;
    const at = joinPath(joinPath(path, "matchExpressions"), i);
    const values = Array.isArray(expr.values) ? expr.values : [];
    if ((expr.operator === "In" || expr.operator === "NotIn") && values.length === 0) {
      problems.add(
        joinPath(at, "values"),
        expr.values,
        "values-required",
        `operator ${expr.operator} needs at least one value`,
      );
    }
    if ((expr.operator === "Exists" || expr.operator === "DoesNotExist") && values.length > 0) {
      problems.add(
        joinPath(at, "values"),
        expr.values,
        "values-forbidden",
        `operator ${expr.operator} takes no values`,
      );
    }
  });
}

/** True when `labels` satisfy the selector (matchLabels and matchExpressions). */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const expr of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, expr.key);
    const value = labels[expr.key];
    const values = expr.values ?? [];
    switch (expr.operator) {
      case "In":
        if (!has || !values.includes(value as string)) return false;
        break;
      case "NotIn":
        if (has && values.includes(value as string)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

export function isEmptySelector(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0;
}

/** Go `time.ParseDuration` subset used in annotations: "300s", "1m30s", "2h", "500ms", "0". Returns seconds. */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const scale: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * (scale[m[2] as string] as number);
    matched = re.lastIndex;
  }
  return matched === text.length && text.length > 0 ? total : undefined;
}

/** A percent ("25%") or a non-negative integer; returns the kind and number, or undefined when neither. */
export function parseIntOrPercent(value: unknown): { percent: boolean; n: number } | undefined {
  if (typeof value === "number")
    return Number.isInteger(value) && value >= 0 ? { percent: false, n: value } : undefined;
  if (typeof value === "string") {
    const m = /^(\d+)%$/.exec(value);
    if (m) return { percent: true, n: Number(m[1]) };
  }
  return undefined;
}
