// Priorities: integers as in InferenceObjective (higher = more important, unset = 0), with the three criticality
// classes mapped onto them. Requests with a negative priority are sheddable: first to go when the fleet is saturated.

export const PRIORITY_CLASSES = { critical: 1, standard: 0, sheddable: -1 } as const;
export type PriorityClass = keyof typeof PRIORITY_CLASSES;

export const PRIORITY_MIN = -1_000_000;
export const PRIORITY_MAX = 1_000_000;

/** Parses `critical` / `standard` / `sheddable` or an integer in [PRIORITY_MIN, PRIORITY_MAX]. */
export function parsePriority(value: unknown): number | { error: string } {
  if (typeof value === "number") {
    if (Number.isInteger(value) && value >= PRIORITY_MIN && value <= PRIORITY_MAX) return value;
    return { error: `must be an integer in [${PRIORITY_MIN}, ${PRIORITY_MAX}] or one of critical|standard|sheddable` };
  }
  if (typeof value === "string") {
    const v = value.trim().toLowerCase();
    if (v in PRIORITY_CLASSES) return PRIORITY_CLASSES[v as PriorityClass];
    if (/^-?\d+$/.test(v)) return parsePriority(Number(v));
  }
  return { error: `must be an integer in [${PRIORITY_MIN}, ${PRIORITY_MAX}] or one of critical|standard|sheddable` };
}

export function priorityClass(p: number): PriorityClass {
  return p > 0 ? "critical" : p < 0 ? "sheddable" : "standard";
}

export function isSheddable(p: number): boolean {
  return p < 0;
}
