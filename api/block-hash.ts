// vLLM's prefix-caching block hashes, reproduced bit for bit, so a router can name the KV blocks an engine reports in
// its KV events before sending a request there (and a simulator can report the same names).
//
// vLLM (v1 engine) hashes every *full* block of `block_size` token ids, chained through the parent's digest:
//   digest(block i) = H((parent digest | NONE_HASH, tuple(token ids of block i), extra_keys | None))
// with H = `--prefix-caching-hash-algo`:
//   sha256       SHA-256 of pickle.dumps(obj, protocol=5)   (the default)
//   sha256_cbor  SHA-256 of cbor2.dumps(obj, canonical=True)
// (xxhash / xxhash_cbor seed NONE_HASH randomly per process, so no outside party can reproduce them.)
// NONE_HASH = H(seed), the seed being PYTHONHASHSEED when the engine has it set, else the fixed "vllm-none-hash"
// string — the same in every engine process, so two engines name the same prefix alike.
// extra_keys is None, or a tuple of tagged keys for that block in vLLM's order: ("lora", name, path) on every block
// of a LoRA request (the path the adapter was loaded from, as /v1/models reports it in `root`), multimodal inputs
// (blocks they overlap; not produced here), ("cache_salt", salt) on the first block only.
// KV events carry each digest's last 8 bytes as an unsigned big-endian integer; `blockKeys` returns exactly those.
//
// Pickle is reproduced for the value shapes that occur here (bytes, str, int, None, tuples) as CPython's C pickler
// writes them at protocol 5: PROTO 5, one FRAME (8-byte little-endian length) holding the opcodes, MEMOIZE after
// every bytes/str/non-empty tuple, STOP. A str object that occurs twice in one key would be written once plus a
// memo reference; the keys built here hold distinct objects (vLLM's tags, names, paths), so that never arises.
import { createHash } from "node:crypto";

export const PREFIX_HASH_ALGOS = ["sha256", "sha256_cbor"] as const;
export type PrefixHashAlgo = (typeof PREFIX_HASH_ALGOS)[number];

/** NONE_HASH's seed when the engine runs without PYTHONHASHSEED (sha256 algorithms). */
export const DEFAULT_NONE_HASH_SEED = "vllm-none-hash";

/** A value inside a hashed tuple, as Python sees it: bytes, str, int, None or a nested tuple. */
export type HashValue = Uint8Array | string | number | bigint | null | readonly HashValue[];

export function isPrefixHashAlgo(v: unknown): v is PrefixHashAlgo {
  return typeof v === "string" && (PREFIX_HASH_ALGOS as readonly string[]).includes(v);
}

// ---- pickle, protocol 5 -------------------------------------------------------------------------------------------

const PROTO = 0x80;
const FRAME = 0x95;
const STOP = 0x2e;
const NONE = 0x4e;
const MARK = 0x28;
const TUPLE = 0x74;
const EMPTY_TUPLE = 0x29;
const TUPLE_N = [0x85, 0x86, 0x87];
const MEMOIZE = 0x94;
const BININT = 0x4a;
const BININT1 = 0x4b;
const BININT2 = 0x4d;
const LONG1 = 0x8a;
const SHORT_BINBYTES = 0x43;
const BINBYTES = 0x42;
const SHORT_BINUNICODE = 0x8c;
const BINUNICODE = 0x58;
/** The C pickler closes a frame at the first opcode boundary past 64 KiB; a larger key is refused, not guessed. */
const FRAME_SIZE_TARGET = 64 * 1024;

/** A growable byte buffer. */
class Bytes {
  buf: Buffer;
  len = 0;

  constructor(capacity = 1024) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }

  u16le(v: number): void {
    this.room(2);
    this.buf.writeUInt16LE(v, this.len);
    this.len += 2;
  }

  i32le(v: number): void {
    this.room(4);
    this.buf.writeInt32LE(v, this.len);
    this.len += 4;
  }

  u32le(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

const utf8 = new TextEncoder();

function pickleInt(out: Bytes, v: number | bigint): void {
  // Token ids take the number paths; BigInt only for the rare value beyond 32 bits.
  if (typeof v === "number" && v >= -0x80000000 && v <= 0x7fffffff) {
    if (v >= 0 && v <= 0xff) {
      out.u8(BININT1);
      out.u8(v);
    } else if (v >= 0 && v <= 0xffff) {
      out.u8(BININT2);
      out.u16le(v);
    } else {
      out.u8(BININT);
      out.i32le(v);
    }
    return;
  }
  const n = typeof v === "bigint" ? v : BigInt(v);
  if (n >= 0n && n <= 0xffn) {
    out.u8(BININT1);
    out.u8(Number(n));
  } else if (n >= 0n && n <= 0xffffn) {
    out.u8(BININT2);
    out.u16le(Number(n));
  } else if (n >= -0x80000000n && n <= 0x7fffffffn) {
    out.u8(BININT);
    out.i32le(Number(n));
  } else {
    // LONG1: length byte, then the shortest little-endian two's complement.
    const le: number[] = [];
    let x = n;
    for (;;) {
      le.push(Number(BigInt.asUintN(8, x)));
      x >>= 8n;
      const top = le[le.length - 1]! & 0x80;
      if ((x === 0n && top === 0) || (x === -1n && top !== 0)) break;
    }
    out.u8(LONG1);
    out.u8(le.length);
    for (const b of le) out.u8(b);
  }
}

function pickleValue(out: Bytes, v: HashValue): void {
  if (v === null) out.u8(NONE);
  else if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new RangeError(`hash input ${v}: only integers are hashed`);
    pickleInt(out, v);
  } else if (typeof v === "bigint") pickleInt(out, v);
  else if (typeof v === "string") {
    const b = utf8.encode(v);
    if (b.length <= 0xff) {
      out.u8(SHORT_BINUNICODE);
      out.u8(b.length);
    } else {
      out.u8(BINUNICODE);
      out.u32le(b.length);
    }
    out.bytes(b);
    out.u8(MEMOIZE);
  } else if (v instanceof Uint8Array) {
    if (v.length <= 0xff) {
      out.u8(SHORT_BINBYTES);
      out.u8(v.length);
    } else {
      out.u8(BINBYTES);
      out.u32le(v.length);
    }
    out.bytes(v);
    out.u8(MEMOIZE);
  } else pickleTuple(out, v);
}

function pickleTuple(out: Bytes, items: readonly HashValue[]): void {
  if (items.length === 0) {
    out.u8(EMPTY_TUPLE);
    return;
  }
  if (items.length > 3) out.u8(MARK);
  for (const item of items) pickleValue(out, item);
  out.u8(items.length > 3 ? TUPLE : TUPLE_N[items.length - 1]!);
  out.u8(MEMOIZE);
}

/** The bytes of `pickle.dumps(value, protocol=5)` for the value shapes above. */
export function pickleDumps(value: HashValue): Buffer {
  const body = new Bytes();
  pickleValue(body, value);
  body.u8(STOP);
  if (body.len >= FRAME_SIZE_TARGET) {
    throw new RangeError(`hash input of ${body.len} bytes: larger than one pickle frame; use a smaller block size`);
  }
  const out = Buffer.allocUnsafe(body.len + (body.len >= 4 ? 11 : 2));
  out[0] = PROTO;
  out[1] = 5;
  let at = 2;
  if (body.len >= 4) {
    out[at++] = FRAME;
    out.writeBigUInt64LE(BigInt(body.len), at);
    at += 8;
  }
  body.view().copy(out, at);
  return out;
}

// ---- CBOR, canonical ----------------------------------------------------------------------------------------------

function cborHead(out: Bytes, major: number, n: number | bigint): void {
  const m = major << 5;
  if (typeof n === "number" && n <= 0xffffffff) {
    if (n < 24) out.u8(m | n);
    else if (n <= 0xff) {
      out.u8(m | 24);
      out.u8(n);
    } else if (n <= 0xffff) {
      out.u8(m | 25);
      out.u8(n >>> 8);
      out.u8(n & 0xff);
    } else {
      out.u8(m | 26);
      out.u8(n >>> 24);
      out.u8((n >>> 16) & 0xff);
      out.u8((n >>> 8) & 0xff);
      out.u8(n & 0xff);
    }
    return;
  }
  const v = BigInt(n);
  if (v < 24n) out.u8(m | Number(v));
  else if (v <= 0xffn) {
    out.u8(m | 24);
    out.u8(Number(v));
  } else if (v <= 0xffffn) {
    out.u8(m | 25);
    out.u8(Number(v >> 8n));
    out.u8(Number(v & 0xffn));
  } else if (v <= 0xffffffffn) {
    out.u8(m | 26);
    for (let s = 24n; s >= 0n; s -= 8n) out.u8(Number((v >> s) & 0xffn));
  } else if (v <= 0xffffffffffffffffn) {
    out.u8(m | 27);
    for (let s = 56n; s >= 0n; s -= 8n) out.u8(Number((v >> s) & 0xffn));
  } else throw new RangeError(`hash input ${v}: integers beyond 64 bits are not hashed`);
}

function cborValue(out: Bytes, v: HashValue): void {
  if (v === null) out.u8(0xf6);
  else if (typeof v === "number" || typeof v === "bigint") {
    if (typeof v === "number" && !Number.isSafeInteger(v)) throw new RangeError(`hash input ${v}: not an integer`);
    if (typeof v === "number") {
      if (v >= 0) cborHead(out, 0, v);
      else cborHead(out, 1, -1 - v);
    } else if (v >= 0n) cborHead(out, 0, v);
    else cborHead(out, 1, -1n - v);
  } else if (typeof v === "string") {
    const b = utf8.encode(v);
    cborHead(out, 3, b.length);
    out.bytes(b);
  } else if (v instanceof Uint8Array) {
    cborHead(out, 2, v.length);
    out.bytes(v);
  } else {
    cborHead(out, 4, v.length);
    for (const item of v) cborValue(out, item);
  }
}

/** The bytes of `cbor2.dumps(value, canonical=True)` for the value shapes above. */
export function cborDumps(value: HashValue): Buffer {
  const out = new Bytes();
  cborValue(out, value);
  return Buffer.from(out.view());
}

// ---- block hashes -------------------------------------------------------------------------------------------------

/** vLLM's `hash_fn(obj)`: the 32-byte SHA-256 digest of the object's serialisation. */
export function hashObject(algo: PrefixHashAlgo, value: HashValue): Buffer {
  const bytes = algo === "sha256" ? pickleDumps(value) : cborDumps(value);
  return createHash("sha256").update(bytes).digest();
}

/** NONE_HASH, the parent of every first block: `hash_fn(seed)`. */
export function noneHash(algo: PrefixHashAlgo, seed: string = DEFAULT_NONE_HASH_SEED): Buffer {
  return hashObject(algo, seed);
}

/** What the key of a block is computed from, besides its tokens. */
export interface BlockHashOptions {
  algo: PrefixHashAlgo;
  /** The engines' PYTHONHASHSEED; unset = vLLM's fixed default seed. */
  seed?: string;
  /** The LoRA adapter the request runs on: its name and the path it was loaded from (both key the blocks). */
  lora?: { name: string; path: string };
  /** The request's `cache_salt` (keys the first block, and through the chain every later one). */
  cacheSalt?: string;
}

/** The extra keys of block `index`, as vLLM builds them (None when there are none). */
export function blockExtraKeys(index: number, opts: Pick<BlockHashOptions, "lora" | "cacheSalt">): HashValue[] | null {
  const keys: HashValue[] = [];
  if (opts.lora) keys.push(["lora", opts.lora.name, opts.lora.path]);
  if (index === 0 && opts.cacheSalt) keys.push(["cache_salt", opts.cacheSalt]);
  return keys.length > 0 ? keys : null;
}

/** The last 8 bytes of a digest as an unsigned big-endian integer: the block key KV events carry. */
export function digestKey(digest: Uint8Array): bigint {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.length).readBigUInt64BE(digest.length - 8);
}

/**
 * Digests of the full blocks of `tokenIds` (a trailing partial block has none). `parent` continues a chain from a
 * block already hashed (default NONE_HASH, the start of a prompt); `firstIndex` is that continuation's block index.
 */
export function blockDigests(
  tokenIds: ArrayLike<number>,
  blockSize: number,
  opts: BlockHashOptions,
  parent?: Uint8Array,
  firstIndex = 0,
): Buffer[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`blockSize: ${String(blockSize)} must be a positive integer (vLLM's CPU default is 128)`);
  }
  const out: Buffer[] = [];
  let prev: Uint8Array = parent ?? noneHash(opts.algo, opts.seed);
  const full = Math.floor(tokenIds.length / blockSize);
  const block: number[] = new Array<number>(blockSize);
  for (let b = 0; b < full; b++) {
    for (let i = 0; i < blockSize; i++) block[i] = tokenIds[b * blockSize + i]!;
    const digest = hashObject(opts.algo, [prev, block, blockExtraKeys(firstIndex + b, opts)]);
    out.push(digest);
    prev = digest;
  }
  return out;
}

/** The keys KV events name the full blocks of `tokenIds` by (see `digestKey`). */
export function blockKeys(tokenIds: ArrayLike<number>, blockSize: number, opts: BlockHashOptions): bigint[] {
  return blockDigests(tokenIds, blockSize, opts).map(digestKey);
}
