/** One thing wrong with an object: where, what was there, which rule it broke, and a sentence a person can act on. */
export interface Problem {
  /** Dotted field path with array indices, e.g. `spec.metricsSources[0].targetValue`. */
  path: string;
  value: unknown;
  rule: string;
  message: string;
}

/** Collects problems under a base path while a rule set walks an object. */
export class ProblemList {
  readonly items: Problem[] = [];

  add(path: string, value: unknown, rule: string, message: string): void {
    this.items.push({ path, value, rule, message });
  }
}

export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  if (!/^[A-Za-z_$][\w$-]*$/.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base ? `${base}.${key}` : key;
}

/** Formats a problem on one line: `spec.maxReplicas: 0 breaks rule "minimum": must be >= 1`. */
export function formatProblem(p: Problem): string {
  return `${p.path || "(root)"}: ${briefValue(p.value)} breaks rule "${p.rule}": ${p.message}`;
}

function briefValue(value: unknown): string {
  if (value === undefined) return "(absent)";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? text.slice(0, 57) + "..." : text;
}
