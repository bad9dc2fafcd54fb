// Who is calling. With auth on, the tenant is the owner of the `Authorization: Bearer` API key; with auth off, it is
// the `user` header, as in AIBrix (no header = anonymous: no per-user limits, one shared fairness identity).
import type { FlowRequest } from "../control.js";
import { KEY_FORMAT, parseKey, verifySecret } from "../users/keys.js";
import type { CachedUserStore } from "../users/store.js";
import type { User } from "../users/user.js";

export type AuthMode = "off" | "keys";

export type Identity =
  { ok: true; name?: string; user?: User } | { ok: false; status: 401; code: string; message: string; header: string };

export async function identify(req: FlowRequest, mode: AuthMode, users: CachedUserStore): Promise<Identity> {
  if (mode === "off") {
    const name = req.user ?? headerValue(req.headers["user"]);
    if (!name) return { ok: true };
    return { ok: true, name, user: await users.get(name) };
  }
  const auth = req.authorization ?? headerValue(req.headers["authorization"]);
  if (!auth) return deny("missing_api_key", "missing API key: send Authorization: Bearer <key>", "true");
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (!m) return deny("invalid_api_key", "malformed Authorization header: expected 'Bearer <key>'", "malformed");
  const parsed = parseKey(m[1]!);
  if (!parsed) return deny("invalid_api_key", `malformed API key: expected ${KEY_FORMAT}`, "malformed");
  const owner = await users.userForKey(parsed.id);
  const user = owner ? await users.get(owner) : undefined;
  const stored = user?.keys.find((k) => k.id === parsed.id);
  if (!user || !stored || !verifySecret(stored, parsed.secret)) {
    return deny("invalid_api_key", "invalid API key: unknown, revoked, or its user was deleted", "invalid");
  }
  return { ok: true, name: user.name, user };
}

function deny(code: string, message: string, header: string): Identity {
  return { ok: false, status: 401, code, message, header };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.length > 0 ? s : undefined;
}
