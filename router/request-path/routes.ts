// What the router serves, by method and path, and the answer to anything else.
import type { OpenAIError } from "../forwarding/errors.js";

/** POST paths that take a JSON body and go to an engine. */
export const JSON_PATHS: ReadonlySet<string> = new Set([
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/embeddings",
  "/v1/responses",
  "/v1/messages",
  "/v1/rerank",
  "/v1/classify",
  "/v1/images/generations",
  "/generate",
]);

/** GET paths the router answers itself. */
export const GET_PATHS: ReadonlySet<string> = new Set(["/v1/models", "/health", "/healthz", "/readyz", "/metrics"]);

/** The path of a request target, without its query. */
export function pathOf(url: string | undefined): string {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q === -1 ? u : u.slice(0, q);
}

/** 404 for a path the router does not serve, 405 for a known path with the wrong method, else undefined. */
export function routeRefusal(method: string | undefined, path: string): OpenAIError | undefined {
  if (method === "POST" && JSON_PATHS.has(path)) return undefined;
  const known = JSON_PATHS.has(path) || GET_PATHS.has(path) || path.startsWith("/v1/models/");
  const status = known ? 405 : 404;
  const allow = JSON_PATHS.has(path) ? "POST" : "GET";
  return known
    ? {
        status,
        message: `${method} is not allowed on ${path}; use ${allow}`,
        code: "method_not_allowed",
        headers: { allow, connection: "close" },
      }
    : {
        status,
        message: `no route ${path}; the router serves POST ${[...JSON_PATHS].join(", ")} and GET /v1/models`,
        code: "not_found",
        headers: { connection: "close" },
      };
}

/** Request ids: the client's `x-request-id` when it is sane, else `<random prefix>-<counter>`. */
export class RequestIds {
  private readonly prefix: string;
  private counter = 0;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  of(header: string | string[] | undefined): string {
    return typeof header === "string" && header.length > 0 && header.length <= 128
      ? header
      : `${this.prefix}-${(++this.counter).toString(36)}`;
  }
}
