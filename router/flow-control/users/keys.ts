// API keys: `sk-aibrix-<id>_<secret>`. The id (12 hex chars) finds the key record without scanning; the secret
// (32 random bytes, base64url) is never stored — only SHA-256(salt ‖ secret) with a random 16-byte salt per key.
//
// Why SHA-256 and not scrypt: the secret carries 256 bits of entropy, so brute force is out of reach whatever the
// hash costs; a memory-hard KDF protects low-entropy passwords, and here would only add tens of milliseconds and
// megabytes to every request (and hand attackers a cheap CPU-exhaustion lever). The per-key salt keeps two stored
// hashes of the same secret different and rules out precomputed tables. Comparison is constant-time.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export interface StoredKey {
  id: string;
  /** hex */
  salt: string;
  /** hex SHA-256(salt ‖ secret) */
  hash: string;
  createdAt: string;
}

const KEY_PATTERN = /^sk-aibrix-([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export const KEY_FORMAT = "sk-aibrix-<12 hex chars>_<43 base64url chars>";

export function generateKey(now = new Date()): { key: string; stored: StoredKey } {
  const id = randomBytes(6).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  const salt = randomBytes(16);
  return {
    key: `sk-aibrix-${id}_${secret}`,
    stored: { id, salt: salt.toString("hex"), hash: digest(salt, secret), createdAt: now.toISOString() },
  };
}

/** Splits a presented key; undefined when it is not in our format at all (malformed). */
export function parseKey(key: string): { id: string; secret: string } | undefined {
  const m = KEY_PATTERN.exec(key);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export function verifySecret(stored: StoredKey, secret: string): boolean {
  const expected = Buffer.from(stored.hash, "hex");
  const actual = Buffer.from(digest(Buffer.from(stored.salt, "hex"), secret), "hex");
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function digest(salt: Buffer, secret: string): string {
  return createHash("sha256").update(salt).update(secret).digest("hex");
}
