// Node names numbered in a hash table over their bytes. A names-only request carries thousands of node names; looking
// them up straight from the request body's bytes skips decoding each one into a fresh string and hashing it again.

/** FNV-1a over `buf[start, end)`. */
export function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}

export class NodeNameTable {
  private readonly bytes: Buffer;
  private readonly offsets: Int32Array;
  /** Open addressing: slot → name index + 1, 0 = empty. */
  private readonly slots: Int32Array;
  private readonly mask: number;

  readonly names: readonly string[];

  /** `names[i]` answers to index i; names must be distinct. */
  constructor(names: readonly string[]) {
    this.names = [...names];
    this.offsets = new Int32Array(names.length + 1);
    let total = 0;
    for (let i = 0; i < names.length; i++) {
      this.offsets[i] = total;
      total += Buffer.byteLength(names[i]!);
    }
    this.offsets[names.length] = total;
    this.bytes = Buffer.allocUnsafe(total);
    for (let i = 0; i < names.length; i++) this.bytes.write(names[i]!, this.offsets[i]!);
    let size = 16;
    while (size < names.length * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let i = 0; i < names.length; i++) {
      let s = hashBytes(this.bytes, this.offsets[i]!, this.offsets[i + 1]!) & this.mask;
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = i + 1;
    }
  }

  /** Index of the name spelled by `buf[start, end)` whose FNV-1a hash is `hash`, or -1. */
  lookup(buf: Uint8Array, start: number, end: number, hash: number): number {
    const len = end - start;
    for (let s = hash & this.mask; ; s = (s + 1) & this.mask) {
      const entry = this.slots[s]!;
      if (entry === 0) return -1;
      const i = entry - 1;
      const at = this.offsets[i]!;
      if (this.offsets[i + 1]! - at !== len) continue;
      let k = 0;
      while (k < len && this.bytes[at + k] === buf[start + k]) k++;
      if (k === len) return i;
    }
  }
}
