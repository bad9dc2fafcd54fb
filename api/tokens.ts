// Token counting and prefix-cache block hashing shared by the router and the engine simulator.
//
// The router and the simulator must agree exactly on how many tokens a prompt has and on the hash of every KV block,
// so that a router can predict (and, from KV events, track) which prefix blocks an engine holds. Neither side loads a
// real model vocabulary, so both use this documented, deterministic approximation of a BPE tokenizer:
//
//   1. The text is split into pieces: a run of letters/digits with the whitespace before it (" hello"), or one other
//      non-space character with the whitespace before it (" ,"). Trailing whitespace forms no piece.
//   2. A piece longer than WORD_PIECE_CHARS characters is cut into chunks of WORD_PIECE_CHARS characters (English
//      BPE vocabularies average about four characters per token, so counts land near real tokenizers).
//   3. Each piece maps to a stable 32-bit id: FNV-1a (32-bit) over its UTF-8 bytes.
//
// Block hashes follow vLLM's prefix-caching scheme: only full blocks of `blockSize` tokens are hashed, and each block's
// hash covers its parent block's hash, its token ids and an optional extra key (the LoRA adapter name, a cache salt),
// so equal hashes mean equal whole prefixes. The hash is FNV-1a (64-bit) over: the parent hash (8 bytes, little-endian),
// each token id (4 bytes, little-endian), then the extra key's UTF-8 bytes. The first block's parent is ROOT_BLOCK_HASH.
// Hashes are unsigned 64-bit integers, returned as bigint, identical in every process.

/** Longest piece, in characters, before a word is cut into several tokens. */
export const WORD_PIECE_CHARS = 4;

const PIECE = /\s*[\p{L}\p{N}]+|\s*[^\s\p{L}\p{N}]/gu;
const encoder = new TextEncoder();

/** Splits text into token pieces (see the file comment); joining the pieces gives the text minus trailing space. */
export function tokenPieces(text: string): string[] {
  const pieces: string[] = [];
  for (const m of text.matchAll(PIECE)) {
    const piece = m[0];
    if (piece.length <= WORD_PIECE_CHARS) {
      pieces.push(piece);
      continue;
    }
    // Keep the leading whitespace on the first chunk, as BPE vocabularies do (" hello" → " hell", "o").
    const lead = piece.length - piece.trimStart().length;
    const first = Math.min(piece.length, lead + WORD_PIECE_CHARS);
    pieces.push(piece.slice(0, first));
    for (let i = first; i < piece.length; i += WORD_PIECE_CHARS) pieces.push(piece.slice(i, i + WORD_PIECE_CHARS));
  }
  return pieces;
}

/** Stable 32-bit id of one token piece (FNV-1a 32 over UTF-8). */
export function pieceId(piece: string): number {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(piece)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Token ids of `text`. */
export function tokenize(text: string): number[] {
  return tokenPieces(text).map(pieceId);
}

/** Number of tokens in `text` (same as `tokenize(text).length`). */
export function countTokens(text: string): number {
  let n = 0;
  for (const m of text.matchAll(PIECE)) {
    const piece = m[0];
    if (piece.length <= WORD_PIECE_CHARS) n += 1;
    else {
      const lead = piece.length - piece.trimStart().length;
      const rest = piece.length - Math.min(piece.length, lead + WORD_PIECE_CHARS);
      n += 1 + Math.ceil(rest / WORD_PIECE_CHARS);
    }
  }
  return n;
}

/** One part of an OpenAI chat message whose content is an array (only text parts carry tokens here). */
export interface ChatContentPart {
  type: string;
  text?: string;
}

/** The fields of an OpenAI chat message that reach the prompt. */
export interface ChatMessageLike {
  role: string;
  content?: string | ChatContentPart[] | null;
  name?: string;
}

/**
 * The prompt text a chat request becomes: each message as `<|role|>\n{content}\n`, then `<|assistant|>\n` to start
 * the reply (the shape of common chat templates; fixed so router and engine count the same tokens).
 */
export function chatPromptText(messages: readonly ChatMessageLike[]): string {
  let out = "";
  for (const m of messages) {
    out += `<|${m.role}|>\n${messageText(m.content)}\n`;
  }
  return out + "<|assistant|>\n";
}

function messageText(content: ChatMessageLike["content"]): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  return content.map((p) => (typeof p.text === "string" ? p.text : "")).join("");
}

// FNV-1a 64 on two 32-bit halves: every product stays below 2^53, so plain doubles are exact (BigInt is ~50× slower).
const FNV64_OFFSET_HI = 0xcbf29ce4;
const FNV64_OFFSET_LO = 0x84222325;

class Fnv64 {
  hi = FNV64_OFFSET_HI;
  lo = FNV64_OFFSET_LO;

  byte(b: number): void {
    this.lo = (this.lo ^ b) >>> 0;
    // h * (2^40 + 0x1b3): the low half times 0x1b3 carries into the high half; 2^40 shifts the low half up 8 bits.
    const lo = this.lo * 0x1b3;
    const carry = Math.floor(lo / 0x100000000);
    this.hi = (this.hi * 0x1b3 + carry + ((this.lo << 8) >>> 0)) % 0x100000000;
    this.lo = lo >>> 0;
  }

  u32(v: number): void {
    this.byte(v & 0xff);
    this.byte((v >>> 8) & 0xff);
    this.byte((v >>> 16) & 0xff);
    this.byte((v >>> 24) & 0xff);
  }

  value(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

function fnv1a64String(s: string): bigint {
  const h = new Fnv64();
  for (const b of encoder.encode(s)) h.byte(b);
  return h.value();
}

/** Parent hash of a sequence's first block (FNV-1a 64 of the string "aibrix-ts/root-block"). */
export const ROOT_BLOCK_HASH: bigint = fnv1a64String("aibrix-ts/root-block");

/** Hash of one full block given its parent's hash (see the file comment). */
export function blockHash(parentHash: bigint, tokenIds: ArrayLike<number>, extraKey?: string): bigint {
  const p = BigInt.asUintN(64, parentHash);
  const h = hashBlock(Number(p >> 32n), Number(p & 0xffffffffn), tokenIds, 0, tokenIds.length, extraBytes(extraKey));
  return h.value();
}

function extraBytes(extraKey: string | undefined): Uint8Array | undefined {
  return extraKey ? encoder.encode(extraKey) : undefined;
}

/** FNV-1a 64 of the parent's two halves (low first), tokens `from`..`to` of `tokenIds`, then `extra`. */
function hashBlock(
  parentHi: number,
  parentLo: number,
  tokenIds: ArrayLike<number>,
  from: number,
  to: number,
  extra: Uint8Array | undefined,
): Fnv64 {
  const h = new Fnv64();
  h.u32(parentLo);
  h.u32(parentHi);
  for (let i = from; i < to; i++) h.u32((tokenIds[i] as number) >>> 0);
  if (extra) for (const b of extra) h.byte(b);
  return h;
}

/**
 * Chained hashes of every full `blockSize`-token block of `tokenIds` (a trailing partial block has none).
 * `parentHash` continues a chain (default ROOT_BLOCK_HASH); `extraKey` (the LoRA adapter name, if any) separates
 * caches that must not share blocks.
 */
export function blockHashes(
  tokenIds: ArrayLike<number>,
  blockSize: number,
  parentHash: bigint = ROOT_BLOCK_HASH,
  extraKey?: string,
): bigint[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`blockSize: ${String(blockSize)} must be a positive integer (vLLM's default is 16)`);
  }
  const out: bigint[] = [];
  // The chain is carried as two 32-bit halves; a BigInt is built once per block, for the result only.
  const p = BigInt.asUintN(64, parentHash);
  let hi = Number(p >> 32n);
  let lo = Number(p & 0xffffffffn);
  const extra = extraBytes(extraKey);
  const full = Math.floor(tokenIds.length / blockSize);
  for (let b = 0; b < full; b++) {
    const h = hashBlock(hi, lo, tokenIds, b * blockSize, (b + 1) * blockSize, extra);
    hi = h.hi;
    lo = h.lo;
    out.push(h.value());
  }
  return out;
}
