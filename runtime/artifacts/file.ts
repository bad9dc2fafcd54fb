// One object to one file, streamed (memory stays at a few stream buffers whatever the size): written to `<file>.part`,
// resumed from the part's length when the source serves ranges, checked for size and digest, then renamed into place.
// A file already in place with the expected size (and digest, when known) is not fetched again.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface Digest {
  algorithm: "md5" | "sha256";
  hex: string;
}

export interface ObjectToFetch {
  /** Relative path under the destination directory. */
  rel: string;
  size: number;
  digest?: Digest | undefined;
  /** Opens the object from byte `start`; `ranged` false when the source sent it from the beginning instead. */
  open(start: number): Promise<{ body: Readable; ranged: boolean }>;
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

async function hashFile(file: string, algorithm: Digest["algorithm"]): Promise<string> {
  const h = createHash(algorithm);
  await pipeline(createReadStream(file), h);
  return h.digest("hex");
}

/** Fetches `obj` into `dir`; returns the bytes transferred (0 when the file was already complete). */
export async function fetchToFile(dir: string, obj: ObjectToFetch): Promise<number> {
  const final = path.join(dir, obj.rel);
  const part = `${final}.part`;
  await mkdir(path.dirname(final), { recursive: true });
  if ((await sizeOf(final)) === obj.size) {
    if (!obj.digest || (await hashFile(final, obj.digest.algorithm)) === obj.digest.hex) return 0;
  }
  let start = (await sizeOf(part)) ?? 0;
  if (start > obj.size) start = 0;
  const { body, ranged } = await obj.open(start);
  if (!ranged) start = 0;
  const hash = obj.digest ? createHash(obj.digest.algorithm) : undefined;
  if (hash && start > 0)
    for await (const chunk of createReadStream(part, { end: start - 1 })) hash.update(chunk as Buffer);
  let received = 0;
  body.on("data", (chunk: Buffer) => {
    received += chunk.length;
    hash?.update(chunk);
  });
  await pipeline(body, createWriteStream(part, { flags: start > 0 ? "a" : "w" }));
  const total = start + received;
  if (total !== obj.size) {
    throw new Error(`${obj.rel}: received ${total} bytes, expected ${obj.size}; the partial file is kept for a retry`);
  }
  if (hash && obj.digest) {
    const got = hash.digest("hex");
    if (got !== obj.digest.hex) {
      await rm(part, { force: true });
      throw new Error(`${obj.rel}: ${obj.digest.algorithm} ${got} does not match the source's ${obj.digest.hex}`);
    }
  }
  await rename(part, final);
  return received;
}
