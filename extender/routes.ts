// The extender's HTTP routes: POST `<prefix>/<verb>` to the verbs (timed, and answered in the verb's own shape when
// the body cannot be read), `/healthz` and `/metrics`.
import type http from "node:http";
import type { Logger } from "pino";
import { readBody } from "../serving/body.js";
import { HttpError } from "../serving/errors.js";
import type { ExtenderMetrics, Verb } from "./metrics.js";
import type { ClusterState } from "./state.js";
import type { ExtenderVerbs, VerbAnswer } from "./verbs.js";
import { filterError } from "./wire.js";

/**
 * Largest request body: 50,000 node names of the longest legal length (253) with their quoting, plus a pod at the
 * API server's object size limit. Full Node lists (extenders without `nodeCacheCapable`) that large are refused:
 * configure `nodeCacheCapable: true`, as the chart does.
 */
export const MAX_BODY_BYTES = 50_000 * 256 + 3 * 1024 * 1024;

export function send(
  res: http.ServerResponse,
  status: number,
  text: string,
  type = "application/json",
  headers: Record<string, string> = {},
): void {
  // Encoded once: answers at fleet scale are hundreds of kB, and byteLength would walk them a second time.
  const body = Buffer.from(text, "utf8");
  res.writeHead(status, { ...headers, "content-type": type, "content-length": body.length });
  res.end(body);
}

export interface RouteDeps {
  prefix: string;
  verbs: ExtenderVerbs;
  state: ClusterState;
  metrics: ExtenderMetrics;
  log: Logger;
  onDecision?: (verb: Verb, seconds: number) => void;
  /** Why the extender cannot place pods yet (its informers have not listed), or undefined once it can. */
  notReady?: () => string | undefined;
}

function answerVerb(verbs: ExtenderVerbs, verb: Verb, body: Buffer): VerbAnswer | Promise<VerbAnswer> {
  if (verb === "filter") return verbs.filter(body);
  if (verb === "prioritize") return verbs.prioritize(body);
  if (verb === "preempt") return verbs.preempt(body);
  return verbs.bind(body);
}

/** Reads the body, runs the verb, times it; a body that cannot be read gets the verb's own error answer. */
function serveVerb(d: RouteDeps, verb: Verb, req: http.IncomingMessage, res: http.ServerResponse): void {
  readBody(req, MAX_BODY_BYTES)
    .then(async (body) => {
      const started = process.hrtime.bigint();
      const r = await answerVerb(d.verbs, verb, body);
      send(res, 200, r.text);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      d.metrics.decision(verb, r.outcome, seconds);
      d.onDecision?.(verb, seconds);
    })
    .catch((err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      if (err instanceof HttpError) d.log.warn({ verb, err: msg }, "request refused");
      else d.log.error({ verb, err: msg }, "request failed");
      if (res.headersSent) return;
      // Still a 200 in each verb's own shape, as the protocol expects for bad input.
      const answer = {
        filter: () => JSON.stringify(filterError(msg)),
        prioritize: () => "[]",
        bind: () => JSON.stringify({ Error: msg }),
        preempt: () => JSON.stringify({ NodeNameToMetaVictims: {} }),
      }[verb];
      send(res, 200, answer(), "application/json", err instanceof HttpError ? err.headers : {});
    });
}

export function extenderRoutes(d: RouteDeps): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const { prefix } = d;
  const verbs: Record<string, Verb> = {
    [`${prefix}/filter`]: "filter",
    [`${prefix}/prioritize`]: "prioritize",
    [`${prefix}/bind`]: "bind",
    [`${prefix}/preempt`]: "preempt",
  };
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const verb = verbs[path];
    if (verb) {
      if (req.method !== "POST") return send(res, 405, JSON.stringify({ Error: `${path} takes POST` }));
      return serveVerb(d, verb, req, res);
    }
    if (path === "/healthz" || path === `${prefix}/healthz`) {
      return send(res, 200, JSON.stringify({ ok: true, nodes: d.state.nodeCount }));
    }
    if (path === "/readyz") {
      const reason = d.notReady?.();
      if (reason !== undefined) return send(res, 503, JSON.stringify({ ready: false, reason }));
      return send(res, 200, JSON.stringify({ ready: true, nodes: d.state.nodeCount }));
    }
    if (path === "/metrics") {
      d.metrics.registry
        .metrics()
        .then((text) => send(res, 200, text, d.metrics.registry.contentType))
        .catch((err: unknown) => send(res, 500, String(err), "text/plain"));
      return;
    }
    send(res, 404, JSON.stringify({ Error: `no route ${req.method} ${path}; verbs are under ${prefix}/` }));
  };
}
