// Summary statistics every benchmark reports the same way.

/** The true median: the middle value, or the mean of the two middle values of an even count; NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Largest minus smallest: how far rounds disagree; NaN when empty. */
export function spread(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : Math.max(...xs) - Math.min(...xs);
}

/**
 * Each figure's true median over rounds (three decimals), and `<key>_spread` for the figures named in `spreadKeys`.
 * Keys are the first round's; a figure missing from any round is NaN (a median of the rest would hide the gap).
 */
export function medianOfRounds(
  rounds: readonly Record<string, number>[],
  spreadKeys: readonly string[],
): Record<string, number> {
  const out: Record<string, number> = {};
  const at = (key: string) => rounds.map((r) => r[key] ?? NaN);
  const medianOrGap = (xs: number[]) => (xs.some(Number.isNaN) ? NaN : median(xs));
  for (const key of Object.keys(rounds[0] ?? {})) out[key] = roundTo3(medianOrGap(at(key)));
  for (const key of spreadKeys) out[`${key}_spread`] = roundTo3(spread(at(key)));
  return out;
}

function roundTo3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
