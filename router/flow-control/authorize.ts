// Who is asking, whether they may use the model, and at what priority: the first step of a flow-control decision.
import { identify, type AuthMode, type Identity } from "./auth/authenticate.js";
import type { FlowDecision, FlowRequest } from "./control.js";
import { parsePriority } from "./fairness/priority.js";
import { refuse, type FlowParts } from "./parts.js";
import { rejection } from "./rejections.js";
import type { User } from "./users/user.js";

export interface Caller {
  tenant?: string;
  user?: User;
  priority: number;
}

/** Who is asking, whether they may use the model, and at what priority; else the refusal. */
export async function authorize(parts: FlowParts, req: FlowRequest): Promise<Caller | FlowDecision> {
  let who: Identity;
  try {
    who = await identify(req, parts.authMode, parts.cache);
  } catch (err) {
    // The user store is unreachable and this user is not cached. Without auth, fail-open serves the request
    // with no per-user limits; a key cannot be verified, so with auth on (or fail-closed) the answer is 503.
    const message = err instanceof Error ? err.message : String(err);
    if (parts.authMode === "keys" || parts.config.onRedisFailure === "closed") {
      return refuse(
        parts,
        rejection(503, "service_unavailable", `cannot look up the caller: user store unreachable (${message})`, {
          "retry-after": "1",
        }),
        "redis-down",
      );
    }
    parts.logger.debug({ err: message }, "user store unreachable; serving without per-user limits");
    who = { ok: true, name: req.user ?? headerString(req.headers["user"]) };
  }
  if (!who.ok) return refuse(parts, rejection(401, who.code, who.message, { "x-error-user": who.header }), "auth");
  const user = who.user;
  if (who.name && !user && parts.config.unknownUsers === "reject") {
    return refuse(
      parts,
      rejection(401, "user_not_found", `user ${who.name} does not exist`, { "x-error-user": "true" }, "user"),
      "auth",
    );
  }
  if (user?.models && !user.models.includes(req.model)) {
    return refuse(
      parts,
      rejection(
        403,
        "model_not_allowed",
        `user ${user.name} may not use model ${req.model}; allowed: ${user.models.join(", ")}`,
        {},
        "model",
      ),
      "model",
    );
  }
  const priority = resolvePriority(req, user?.priority, parts.authMode);
  if (typeof priority !== "number") {
    return refuse(
      parts,
      rejection(400, "invalid_value", `priority header ${priority.error}`, {}, "priority"),
      "priority",
    );
  }
  return { tenant: who.name, user, priority };
}

/**
 * The request's priority: the `priority` header (class name or integer) or the user's own. With auth on, a request
 * may lower its priority but not raise it above its user's (default 0), so a key cannot buy itself "critical".
 */
function resolvePriority(
  req: FlowRequest,
  userPriority: number | undefined,
  auth: AuthMode,
): number | { error: string } {
  const raw = req.priority ?? header(req.headers["priority"]) ?? header(req.headers["x-priority"]);
  if (raw === undefined) return userPriority ?? 0;
  const p = parsePriority(raw);
  if (typeof p !== "number") return p;
  const cap = auth === "keys" ? (userPriority ?? 0) : userPriority;
  return cap === undefined ? p : Math.min(p, cap);
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function headerString(v: string | string[] | undefined): string | undefined {
  const s = header(v);
  return s ? s : undefined;
}
