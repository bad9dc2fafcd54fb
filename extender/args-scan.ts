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
  /** This body's list, to read the next one by; undefined when it names nodes the table does not have. */
  list: KnownNameList | undefined;
}

/**
 * A names list read before, kept to read the next one by. kube-scheduler sends consecutive requests nearly the same
 * list: prioritize exactly the names the filter let through, and the filter of the next pod the same candidates give
 * or take the nodes that filled up or freed since. A name the new body spells byte for byte where the known list
 * goes on is resolved by one short comparison instead of a hash and a lookup.
 */
export class KnownNameList {
  /**
   * Name `q` is `bytes[starts[q], ends[q])`, quotes included, and has index `indices[q]` (never -1) in `table`.
   * The bytes between two consecutive names are whatever separated them when the list was read.
   */
  constructor(
    readonly table: NodeNameTable,
    readonly bytes: Buffer,
    readonly starts: readonly number[],
    readonly ends: readonly number[],
    readonly indices: readonly number[],
  ) {}

  get length(): number {
    return this.indices.length;
  }

  /** Where the name with table index `at` is in this list (the last place, if it is there twice), or -1. */
  positionOf(at: number): number {
    if (positionsOwner !== this) claimPositions(this);
    return positions[at] ?? -1;
  }

  /**
   * The list of the names at `positions` (ascending), as `encoded` spells them: each name's bytes as in this list,
   * joined by single commas. Undefined when `encoded` is not that spelling.
   */
  subset(positions: readonly number[], encoded: Buffer): KnownNameList | undefined {
    const starts = new Array<number>(positions.length);
    const ends = new Array<number>(positions.length);
    const indices = new Array<number>(positions.length);
    let at = 0;
    for (let k = 0; k < positions.length; k++) {
      const q = positions[k]!;
      starts[k] = at;
      at += this.ends[q]! - this.starts[q]!;
      ends[k] = at;
      indices[k] = this.indices[q]!;
      at++;
    }
    if (Math.max(0, at - 1) !== encoded.length) return undefined;
    return new KnownNameList(this.table, encoded, starts, ends, indices);
  }
}

/**
 * Position by table index for one list at a time (-1 = not in it), shared: a list is asked for positions only while
 * the request after it is read, and a fresh array per list would cost an allocation and a fill the size of the fleet
 * on every request rather than the size of its list.
 */
let positions = new Int32Array(0);
let positionsOwner: KnownNameList | undefined;

function claimPositions(list: KnownNameList): void {
  const size = list.table.names.length;
  if (positions.length < size) {
    positions = new Int32Array(size).fill(-1);
  } else if (positionsOwner) {
    const stale = positionsOwner.indices;
    for (let q = 0; q < stale.length; q++) positions[stale[q]!] = -1;
  }
  for (let q = 0; q < list.indices.length; q++) positions[list.indices[q]!] = q;
  positionsOwner = list;
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

/** A body this many names in a row away from the known list's order is another list: look every name up. */
const MISSES_BEFORE_GIVING_UP = 16;

/**
 * The names read so far: table index, start and end of each. Written into arrays kept from one body to the next and
 * copied out at their final length, instead of grown by push (which reallocates each array several times per body).
 */
class NameScan {
  private static readonly indices: number[] = [];
  private static readonly starts: number[] = [];
  private static readonly ends: number[] = [];
  count = 0;
  readonly unknown = new Map<number, string>();

  add(at: number, start: number, end: number): void {
    NameScan.indices[this.count] = at;
    NameScan.starts[this.count] = start;
    NameScan.ends[this.count] = end;
    this.count++;
  }

  finish(): { indices: number[]; starts: number[]; ends: number[] } {
    return {
      indices: NameScan.indices.slice(0, this.count),
      starts: NameScan.starts.slice(0, this.count),
      ends: NameScan.ends.slice(0, this.count),
    };
  }
}

/**
 * Whether `b` spells the known list's name `q` (quotes included) from `i`. Compared in place, last byte first: node
 * names in a fleet mostly share a prefix and differ at the end, so a mismatch shows within a byte or two. (One native
 * comparison would cost more in call overhead than this loop over a name.)
 */
function spellsKnown(b: Buffer, i: number, known: KnownNameList, q: number): boolean {
  const from = known.starts[q]!;
  const len = known.ends[q]! - from;
  if (i + len > b.length) return false;
  const kb = known.bytes;
  for (let k = len - 1; k >= 0; k--) if (b[i + k] !== kb[from + k]) return false;
  return true;
}

/** Reads the names of an array whose `[` precedes `i`; returns the index after its `]`, or -1 to decline. */
function scanNames(
  b: Buffer,
  i: number,
  table: NodeNameTable,
  known: KnownNameList | undefined,
  out: NameScan,
): number {
  i = skipSpace(b, i);
  if (b[i] === CLOSE_BRACKET) return i + 1;
  // The known list's position that may come next, -1 when there is no telling.
  let next = known && known.length > 0 ? 0 : -1;
  let misses = 0;
  for (;;) {
    if (b[i] !== QUOTE) return -1;
    let matched = false;
    if (next >= 0 && misses < MISSES_BEFORE_GIVING_UP) {
      // Bytes equal to a whole, well-formed known name read as that name, whatever surrounds them.
      matched = spellsKnown(b, i, known!, next);
      misses = matched ? 0 : misses + 1;
    }
    if (matched) {
      const end = i + known!.ends[next]! - known!.starts[next]!;
      out.add(known!.indices[next]!, i, end);
      i = end;
      next = next + 1 < known!.length ? next + 1 : -1;
    } else {
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
      if (at < 0) out.unknown.set(out.count, b.toString("latin1", start, j));
      out.add(at, i, j + 1);
      i = j + 1;
      // Where the known list goes on from here: after this name if it has it, else where it was (an inserted name).
      const p = known && at >= 0 ? known.positionOf(at) : -1;
      if (p >= 0) next = p + 1 < known!.length ? p + 1 : -1;
    }
    i = skipSpace(b, i);
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
 * Names a `known` list (read against the same table) spells byte for byte, in its order, take its resolution.
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
  let names: NameScan | undefined;
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
      names = new NameScan();
      i = scanNames(b, i + 1, table, known?.table === table ? known : undefined, names);
      if (i < 0) return undefined;
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
  if (i !== b.length || podJson === undefined || names === undefined) return undefined;
  const { unknown } = names;
  const { indices, starts, ends } = names.finish();
  const list = unknown.size === 0 ? new KnownNameList(table, body, starts, ends, indices) : undefined;
  return { podJson, indices, unknown, list };
}
