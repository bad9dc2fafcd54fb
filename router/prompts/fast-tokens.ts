// A faster path to exactly the token ids of `api/tokens.ts` for ASCII text (the common case on the router's hot
// path): one pass over char codes, FNV-1a computed inline, no regex and no per-piece encoding. Any text with a
// non-ASCII character goes through the shared implementation, so the result is always identical to `tokenize`.
import { tokenize, WORD_PIECE_CHARS } from "../../api/tokens.js";

const ALNUM = new Uint8Array(128);
const SPACE = new Uint8Array(128);
for (let c = 48; c <= 57; c++) ALNUM[c] = 1;
for (let c = 65; c <= 90; c++) ALNUM[c] = 1;
for (let c = 97; c <= 122; c++) ALNUM[c] = 1;
// JavaScript's \s within ASCII: tab, line feed, vertical tab, form feed, carriage return, space.
for (const c of [9, 10, 11, 12, 13, 32]) SPACE[c] = 1;

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 127) return false;
  return true;
}

/** FNV-1a 32 of text[from, to) (ASCII: one byte per char). */
function fnv(text: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Same ids as `tokenize(text)` from `api/tokens.ts`. */
export function fastTokenize(text: string): number[] {
  if (!isAscii(text)) return tokenize(text);
  const out: number[] = [];
  scanAscii(text, 0, out);
  return out;
}

/**
 * Token ids of `text` from character `from` on, appended to `ids` (and each token's end offset to `ends`), as
 * `tokenize` gives them when `from` is a piece boundary (0, or whitespace after non-whitespace). Returns false, having
 * appended nothing, when that part of the text is not all ASCII (the caller then uses the shared tokenizer).
 */
export function tokenizeAsciiFrom(text: string, from: number, ids: number[], ends: number[]): boolean {
  for (let i = from; i < text.length; i++) if (text.charCodeAt(i) > 127) return false;
  scanAscii(text, from, ids, ends);
  return true;
}

/** True when a piece of `tokenize` starts at `at`: `text[at]` is whitespace and `text[at - 1]` is not (ASCII). */
export function isPieceBoundary(text: string, at: number): boolean {
  if (at <= 0 || at >= text.length) return false;
  const c = text.charCodeAt(at);
  const p = text.charCodeAt(at - 1);
  return c < 128 && SPACE[c] === 1 && !(p < 128 && SPACE[p] === 1);
}

function scanAscii(text: string, from: number, out: number[], ends?: number[]): void {
  const n = text.length;
  let i = from;
  while (i < n) {
    const start = i;
    while (i < n && SPACE[text.charCodeAt(i)]) i++;
    if (i >= n) break; // trailing whitespace forms no piece
    let end: number;
    if (ALNUM[text.charCodeAt(i)]) {
      end = i + 1;
      while (end < n && ALNUM[text.charCodeAt(end)]) end++;
    } else {
      end = i + 1;
    }
    // Piece is text[start, end); long pieces are cut into WORD_PIECE_CHARS chunks, the first keeping the whitespace.
    const len = end - start;
    if (len <= WORD_PIECE_CHARS) {
      out.push(fnv(text, start, end));
      ends?.push(end);
    } else {
      const first = Math.min(end, i + WORD_PIECE_CHARS);
      out.push(fnv(text, start, first));
      ends?.push(first);
      for (let c = first; c < end; c += WORD_PIECE_CHARS) {
        const to = Math.min(end, c + WORD_PIECE_CHARS);
        out.push(fnv(text, c, to));
        ends?.push(to);
      }
    }
    i = end;
  }
}
