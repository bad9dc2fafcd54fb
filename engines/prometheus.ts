// Prometheus text exposition (format 0.0.4) parsing, tuned for the router's scrape loop: callers name the metric
// families they want and every other line is skipped after a cheap prefix check, so histogram buckets of metrics
// nobody reads cost almost nothing.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class PrometheusParseError extends Error {}

/**
 * Parse the samples whose metric name passes `want` (all samples when omitted). Comment lines are skipped.
 * Throws `PrometheusParseError` naming the line for a sample line that is malformed.
 */
export function parsePrometheusText(text: string, want?: (name: string) => boolean): Sample[] {
  const out: Sample[] = [];
  let pos = 0;
  let lineNo = 0;
  const len = text.length;
  while (pos < len) {
    let end = text.indexOf("\n", pos);
    if (end === -1) end = len;
    lineNo++;
    const start = pos;
    pos = end + 1;
    // Skip blank lines and comments (# HELP, # TYPE).
    let i = start;
    while (i < end && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
    if (i >= end || text.charCodeAt(i) === 35 /* # */) continue;
    // Metric name runs until '{', space or tab.
    let j = i;
    while (j < end) {
      const c = text.charCodeAt(j);
      if (c === 123 /* { */ || c === 32 || c === 9) break;
      j++;
    }
    const name = text.slice(i, j);
    if (want && !want(name)) continue;
    const labels: Record<string, string> = {};
    if (text.charCodeAt(j) === 123) j = parseLabels(text, j + 1, end, labels, lineNo);
    // Value is the next whitespace-separated token; an optional timestamp may follow.
    while (j < end && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
    let k = j;
    while (k < end && text.charCodeAt(k) !== 32 && text.charCodeAt(k) !== 9 && text.charCodeAt(k) !== 13) k++;
    const raw = text.slice(j, k);
    const value = parseValue(raw);
    if (Number.isNaN(value) && raw !== "NaN") {
      throw new PrometheusParseError(`line ${lineNo}: sample "${name}" has value "${raw}", which is not a number`);
    }
    out.push({ name, labels, value });
  }
  return out;
}

function parseValue(raw: string): number {
  switch (raw) {
    case "+Inf":
    case "Inf":
      return Infinity;
    case "-Inf":
      return -Infinity;
    case "NaN":
      return NaN;
    case "":
      return NaN;
    default:
      return Number(raw);
  }
}

/** Parses `name="value",…}` starting after '{'; returns the index after '}'. */
function parseLabels(text: string, i: number, end: number, labels: Record<string, string>, lineNo: number): number {
  while (i < end) {
    while (i < end && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 44) /* , */) i++;
    if (text.charCodeAt(i) === 125 /* } */) return i + 1;
    const eq = text.indexOf("=", i);
    if (eq === -1 || eq >= end || text.charCodeAt(eq + 1) !== 34 /* " */) {
      throw new PrometheusParseError(`line ${lineNo}: label list is malformed (expected name="value")`);
    }
    const key = text.slice(i, eq).trim();
    let j = eq + 2;
    let value = "";
    let chunkStart = j;
    for (;;) {
      if (j >= end) throw new PrometheusParseError(`line ${lineNo}: label "${key}" has an unterminated value`);
      const c = text.charCodeAt(j);
      if (c === 34) break;
      if (c === 92 /* \ */) {
        value += text.slice(chunkStart, j);
        const n = text[j + 1];
        value += n === "n" ? "\n" : (n ?? "");
        j += 2;
        chunkStart = j;
        continue;
      }
      j++;
    }
    value += text.slice(chunkStart, j);
    labels[key] = value;
    i = j + 1;
  }
  throw new PrometheusParseError(`line ${lineNo}: label list is not closed with "}"`);
}
