// The users API, served on the router's admin port.
//
//   GET    /v1/users                       list
//   POST   /v1/users                       create   {name, rpm?, tpm?, priority?, models?}   409 if it exists
//   GET    /v1/users/:name                 read     404 if unknown
//   PATCH  /v1/users/:name  (or PUT)       update   any subset of the fields; null clears a limit
//   DELETE /v1/users/:name                 delete   (and its keys)
//   POST   /v1/users/:name/keys            new API key; the key is in this response only
//   DELETE /v1/users/:name/keys/:id        revoke a key
// AIBrix-compatible: POST /CreateUser (idempotent), /ReadUser, /UpdateUser, /DeleteUser with {name, rpm, tpm}.
//
// Errors are OpenAI-shaped and name the field and the rule: {"error":{"message","type","code","param"}}.
import type { IncomingMessage, ServerResponse } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { readBody, parseJsonObject } from "../../../serving/body.js";
import { errorType, HttpError } from "../../../serving/errors.js";
import { generateKey } from "./keys.js";
import type { CachedUserStore, UserStore } from "./store.js";
import { applyUserInput, publicUser, validateUserInput, type User, type UserInput } from "./user.js";

export interface UsersApiOptions {
  store: UserStore;
  /** Cache used on the request path, invalidated on every change made here. */
  cache?: CachedUserStore;
  /** When set, every call needs `Authorization: Bearer <adminToken>`. */
  adminToken?: string;
}

const MAX_BODY = 64 * 1024;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export type UsersHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Returns a request handler; requests for paths it does not own get 404. */
export function usersApiHandler(opts: UsersApiOptions): UsersHandler {
  return (req, res) => {
    handle(opts, req)
      .then(({ status, body }) => send(res, status, body))
      .catch((err: unknown) => {
        if (err instanceof ApiError) {
          send(res, err.status, {
            error: { message: err.message, type: errorType(err.status), code: err.code, param: err.param },
          });
        } else {
          const message = err instanceof Error ? err.message : String(err);
          send(res, 503, {
            error: {
              message: `user store unavailable: ${message}`,
              type: "api_error",
              code: "store_unavailable",
              param: null,
            },
          });
        }
      });
  };
}

type Answer = { status: number; body: unknown };

/** AIBrix's own routes: `POST /CreateUser`, `/ReadUser`, `/UpdateUser`, `/DeleteUser` with the name in the body. */
async function aibrixRoute(opts: UsersApiOptions, op: string, req: IncomingMessage): Promise<Answer> {
  const { store } = opts;
  const body = await readJson(req);
  const name = requireName(body);
  if (op === "ReadUser") return { status: 200, body: aibrixView(await mustGet(store, name)) };
  if (op === "DeleteUser") {
    await deleteUser(opts, name);
    return { status: 200, body: { message: `user ${name} deleted` } };
  }
  checkBody(body, op === "UpdateUser");
  const existing = await store.get(name);
  if (op === "UpdateUser" && !existing) throw unknownUser(name);
  if (op === "CreateUser" && existing) return { status: 200, body: aibrixView(existing) };
  const user = applyUserInput(existing, body as UserInput, true);
  await save(opts, user);
  return { status: 200, body: aibrixView(user) };
}

/** `/v1/users`: list and create. */
async function usersRoute(opts: UsersApiOptions, method: string, path: string, req: IncomingMessage): Promise<Answer> {
  const { store } = opts;
  if (method === "GET") return { status: 200, body: { data: (await store.list()).map(publicUser) } };
  if (method === "POST") {
    const body = await readJson(req);
    checkBody(body, false);
    const n = (body as { name: string }).name;
    if (await store.get(n))
      throw new ApiError(409, "user_exists", `user ${n} already exists; use PATCH /v1/users/${n}`, "name");
    const user = applyUserInput(undefined, body as UserInput, false);
    await save(opts, user);
    return { status: 201, body: publicUser(user) };
  }
  throw methodNotAllowed(method, path);
}

/** `/v1/users/<name>`: read, update, delete. */
async function userRoute(
  opts: UsersApiOptions,
  method: string,
  path: string,
  name: string,
  req: IncomingMessage,
): Promise<Answer> {
  const { store } = opts;
  if (method === "GET") return { status: 200, body: publicUser(await mustGet(store, name)) };
  if (method === "PATCH" || method === "PUT") {
    const body = await readJson(req);
    checkBody(body, true);
    const b = body as UserInput;
    if (b.name !== undefined && b.name !== name) {
      throw new ApiError(
        400,
        "invalid_value",
        `name in the body (${String(b.name)}) must match the path (${name})`,
        "name",
      );
    }
    const user = applyUserInput(await mustGet(store, name), b, false);
    await save(opts, user);
    return { status: 200, body: publicUser(user) };
  }
  if (method === "DELETE") {
    await deleteUser(opts, name);
    return { status: 200, body: { name, deleted: true } };
  }
  throw methodNotAllowed(method, path);
}

/** `POST /v1/users/<name>/keys` makes a key (shown once); `DELETE /v1/users/<name>/keys/<id>` revokes one. */
async function keysRoute(opts: UsersApiOptions, name: string, id: string | undefined): Promise<Answer> {
  const { store } = opts;
  const user = await mustGet(store, name);
  if (id === undefined) {
    const { key, stored } = generateKey();
    user.keys.push(stored);
    await store.linkKey(stored.id, user.name);
    await save(opts, user);
    return { status: 201, body: { id: stored.id, key, user: user.name, createdAt: stored.createdAt } };
  }
  if (!user.keys.some((k) => k.id === id)) {
    throw new ApiError(404, "key_not_found", `user ${name} has no key with id ${id}`, "id");
  }
  user.keys = user.keys.filter((k) => k.id !== id);
  await store.unlinkKey(id);
  await save(opts, user, [id]);
  return { status: 200, body: { id, deleted: true } };
}

async function handle(opts: UsersApiOptions, req: IncomingMessage): Promise<Answer> {
  checkAdmin(opts, req);
  const url = new URL(req.url ?? "/", "http://admin");
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? "GET";

  // AIBrix-compatible routes.
  if (parts.length === 1 && method === "POST" && /^(Create|Read|Update|Delete)User$/.test(parts[0]!)) {
    return aibrixRoute(opts, parts[0]!, req);
  }
  if (parts[0] !== "v1" || parts[1] !== "users")
    throw new ApiError(404, "not_found", `no route ${method} ${url.pathname}`);
  const name = parts[2];
  if (name === undefined) return usersRoute(opts, method, url.pathname, req);
  if (parts.length === 3) return userRoute(opts, method, url.pathname, name, req);
  if (parts[3] === "keys" && parts.length === 4 && method === "POST") return keysRoute(opts, name, undefined);
  if (parts[3] === "keys" && parts.length === 5 && method === "DELETE") return keysRoute(opts, name, parts[4]!);
  throw new ApiError(404, "not_found", `no route ${method} ${url.pathname}`);
}

async function save(opts: UsersApiOptions, user: User, revoked: string[] = []): Promise<void> {
  await opts.store.put(user);
  opts.cache?.invalidate(user.name, [...user.keys.map((k) => k.id), ...revoked]);
}

async function deleteUser(opts: UsersApiOptions, name: string): Promise<void> {
  const user = await mustGet(opts.store, name);
  for (const k of user.keys) await opts.store.unlinkKey(k.id);
  await opts.store.delete(name);
  opts.cache?.invalidate(
    name,
    user.keys.map((k) => k.id),
  );
}

async function mustGet(store: UserStore, name: string): Promise<User> {
  const user = await store.get(name);
  if (!user) throw unknownUser(name);
  return user;
}

function unknownUser(name: string): ApiError {
  return new ApiError(404, "user_not_found", `user ${name} does not exist; create it with POST /v1/users`, "name");
}

function methodNotAllowed(method: string, path: string): ApiError {
  return new ApiError(405, "method_not_allowed", `${method} is not supported on ${path}`);
}

function requireName(body: unknown): string {
  const name = (body as { name?: unknown } | null)?.name;
  if (typeof name !== "string" || name === "") {
    throw new ApiError(400, "invalid_value", "name is required and must be a non-empty string", "name");
  }
  return name;
}

function checkBody(body: unknown, partial: boolean): void {
  const problems = validateUserInput(body, partial);
  if (problems.length > 0) {
    const p = problems[0]!;
    const more =
      problems.length > 1
        ? ` (and ${problems.length - 1} more: ${problems
            .slice(1)
            .map((q) => q.field)
            .join(", ")})`
        : "";
    throw new ApiError(400, "invalid_value", `${p.message}${more}`, p.field);
  }
}

function checkAdmin(opts: UsersApiOptions, req: IncomingMessage): void {
  if (!opts.adminToken) return;
  const header = req.headers.authorization ?? "";
  const presented = Buffer.from(header.startsWith("Bearer ") ? header.slice(7) : "");
  const expected = Buffer.from(opts.adminToken);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    throw new ApiError(401, "invalid_api_key", "the users API needs Authorization: Bearer <admin token>");
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let raw: Buffer;
  try {
    raw = await readBody(req, MAX_BODY);
  } catch (err) {
    if (err instanceof HttpError) throw new ApiError(413, "body_too_large", err.message);
    throw err;
  }
  if (raw.toString("utf8").trim() === "") return {};
  try {
    return parseJsonObject(raw);
  } catch (err) {
    throw new ApiError(400, "invalid_json", (err as Error).message);
  }
}

function aibrixView(u: User): Record<string, unknown> {
  return { name: u.name, rpm: u.rpm, tpm: u.tpm };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
