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
