// A byte scanner for the one request shape that dominates at fleet scale: names-only ExtenderArgs,
// `{"Pod":{…},"Nodes":null,"NodeNames":["…",…]}`. The names are resolved against the node table straight from the
// body; only the small Pod value is decoded. Every other shape, and anything unusual, is left to the general parser.
import type { NodeNameTable } from "./name-table.js";

export interface ScannedNamesArgs {
  /** The Pod value's JSON text (not yet checked: JSON.parse decides). */
  podJson: string;
  /** Per candidate, its index in the node table, or -1 when the table does not have it. */
  indices: number[];
  /** Decoded names of the candidates the table does not have, by position. */
  unknown: Map<number, string>;
}

/** A names list seen before (the array's contents, without brackets) with its resolution. */
export interface KnownNameList {
  bytes: Buffer;
  indices: readonly number[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const NULL = Buffer.from("null");

type Field = "pod" | "nodes" | "names";
const FIELDS: ReadonlyMap<string, Field> = new Map([
  ["Pod", "pod"],
  ["pod", "pod"],
  ["Nodes", "nodes"],
  ["nodes", "nodes"],
  ["NodeNames", "names"],
  ["nodeNames", "names"],
]);

function skipSpace(b: Buffer, i: number): number {
  while (i < b.length) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** End (exclusive) of the object or array opening at `i`, strings respected; -1 when unterminated. */
function skipComposite(b: Buffer, i: number): number {
  let depth = 0;
  for (; i < b.length; i++) {
    const c = b[i]!;
    if (c === QUOTE) {
      for (i++; i < b.length && b[i] !== QUOTE; i++) if (b[i] === BACKSLASH) i++;
      if (i >= b.length) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/** Reads the names of an array whose `[` precedes `i`; returns the index after its `]`, or -1 to decline. */
function scanNames(
  b: Buffer,
  i: number,
  table: NodeNameTable,
  indices: number[],
  unknown: Map<number, string>,
): number {
  i = skipSpace(b, i);
  if (b[i] === CLOSE_BRACKET) return i + 1;
  for (;;) {
    if (b[i] !== QUOTE) return -1;
    const start = i + 1;
    // FNV-1a, as NodeNameTable hashes its names.
    let h = 0x811c9dc5;
    let j = start;
    for (; j < b.length; j++) {
      const c = b[j]!;
      if (c === QUOTE) break;
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return -1;
      h = Math.imul(h ^ c, 0x01000193);
    }
    if (j >= b.length) return -1;
    const at = table.lookup(b, start, j, h >>> 0);
    if (at < 0) unknown.set(indices.length, b.toString("latin1", start, j));
    indices.push(at);
    i = skipSpace(b, j + 1);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1);
      continue;
    }
    return b[i] === CLOSE_BRACKET ? i + 1 : -1;
  }
}

/**
 * Scans a names-only ExtenderArgs body. Returns undefined — take the general parser — for full Node lists, keys other
 * than Pod/Nodes/NodeNames (or repeated), a name with an escape, a control or non-ASCII byte, and malformed JSON.
 * A `known` list byte-identical to the body's takes its resolution as is (kube-scheduler sends prioritize exactly the
 * names the filter let through).
 */
export function scanNamesOnlyArgs(
  body: Buffer,
  table: NodeNameTable,
  known?: KnownNameList,
): ScannedNamesArgs | undefined {
  const b = body;
  let i = skipSpace(b, 0);
  if (b[i] !== OPEN_BRACE) return undefined;
  i = skipSpace(b, i + 1);
  const seen = new Set<Field>();
  let podJson: string | undefined;
  let indices: number[] | undefined;
  const unknown = new Map<number, string>();
  if (b[i] === CLOSE_BRACE) return undefined;
  for (;;) {
    if (b[i] !== QUOTE) return undefined;
    const keyEnd = b.indexOf(QUOTE, i + 1);
    if (keyEnd < 0) return undefined;
    const field = FIELDS.get(b.toString("latin1", i + 1, keyEnd));
    if (!field || seen.has(field)) return undefined;
    seen.add(field);
    i = skipSpace(b, keyEnd + 1);
    if (b[i] !== COLON) return undefined;
    i = skipSpace(b, i + 1);
    if (field === "pod") {
      if (b[i] !== OPEN_BRACE) return undefined;
      const end = skipComposite(b, i);
      if (end < 0) return undefined;
      podJson = b.toString("utf8", i, end);
      i = end;
    } else if (field === "nodes") {
      if (!NULL.equals(b.subarray(i, i + 4))) return undefined;
      i += 4;
    } else {
      if (b[i] !== OPEN_BRACKET) return undefined;
      const knownEnd = known ? i + 1 + known.bytes.length : -1;
      if (
        known &&
        b[knownEnd] === CLOSE_BRACKET &&
        b.compare(known.bytes, 0, known.bytes.length, i + 1, knownEnd) === 0
      ) {
        indices = known.indices.slice();
        i = knownEnd + 1;
      } else {
        indices = [];
        i = scanNames(b, i + 1, table, indices, unknown);
        if (i < 0) return undefined;
      }
    }
    i = skipSpace(b, i);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (b[i] !== CLOSE_BRACE) return undefined;
    i = skipSpace(b, i + 1);
    break;
  }
  if (i !== b.length || podJson === undefined || indices === undefined) return undefined;
  return { podJson, indices, unknown };
}
