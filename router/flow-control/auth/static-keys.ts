// A fixed list of gateway API keys (a file, typically a mounted Secret, one key a line): a request must present one
// of them as `Authorization: Bearer <key>`. Compared in constant time over SHA-256 digests, so neither a key's
// content nor its length leaks through timing.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

const digest = (s: string) => createHash("sha256").update(s).digest();

export class StaticKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error("static API keys: the list is empty; give at least one key");
    this.digests = keys.map(digest);
  }

  /** Keys one a line; blank lines and `#` comments are skipped. */
  static fromFile(file: string): StaticKeys {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(`--api-key-file ${file}: cannot read it (${(err as Error).message})`, { cause: err });
    }
    const keys = text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    if (keys.length === 0) throw new Error(`--api-key-file ${file}: no keys in it (one key a line)`);
    return new StaticKeys(keys);
  }

  /** Undefined when `authorization` carries a listed key, else why not (for a 401 message). */
  refusal(authorization: string | undefined): string | undefined {
    if (!authorization) return "missing API key: send Authorization: Bearer <key>";
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return "malformed Authorization header: expected 'Bearer <key>'";
    const presented = digest(m[1]!);
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(presented, d) || ok;
    return ok ? undefined : "invalid API key";
  }
}
