// What the router answers itself on GET: the model list (OpenAI's shape), health, readiness and metrics.
import type { ServerResponse } from "node:http";
import type { EndpointRegistry } from "../endpoints/endpoints.js";
import { sendError } from "../forwarding/errors.js";
import type { RouterMetrics } from "../metrics/metrics.js";
import { modelLimit } from "./body-limits.js";

export interface GetRoutes {
  registry: EndpointRegistry;
  metrics: RouterMetrics;
  maxBodyBytes: number;
  /** Unix seconds, the `created` of every model card. */
  startedAt: number;
  /** Discovery has delivered its first snapshot. */
  synced(): boolean;
  /** What /metrics serves instead of this router's own registry (a worker pool: the sum over its workers). */
  metricsText?: () => Promise<string>;
  /** Which process of a worker pool answers ("worker 2 of 4, pid 1234"), said on /readyz. */
  workerLabel?: string;
}

/** Answers `path` when it is one of the router's own GET routes; false when it is not. */
export async function serveGet(g: GetRoutes, path: string, res: ServerResponse): Promise<boolean> {
  if (path === "/v1/models") {
    sendJson(res, { object: "list", data: servedModels(g).map((id) => modelCard(g, id)) });
    return true;
  }
  if (path.startsWith("/v1/models/")) {
    retrieveModel(g, res, path.slice("/v1/models/".length));
    return true;
  }
  if (path === "/healthz" || path === "/health") {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    return true;
  }
  if (path === "/readyz") {
    const synced = g.synced();
    res
      .writeHead(synced ? 200 : 503, { "content-type": "text/plain" })
      .end(
        `${synced ? `ready: ${g.registry.all().length} endpoints` : "discovery has not synced yet"}` +
          (g.workerLabel ? ` (${g.workerLabel})` : ""),
      );
    return true;
  }
  if (path === "/metrics") {
    const text = await (g.metricsText ?? (() => g.metrics.registry.metrics()))();
    res.writeHead(200, { "content-type": g.metrics.registry.contentType }).end(text);
    return true;
  }
  return false;
}

function servedModels(g: GetRoutes): string[] {
  const now = Date.now();
  return g.registry.models().filter((m) => g.registry.serving(m).some((ep) => !ep.isEjected(now)));
}

export function modelCard(g: GetRoutes, id: string): Record<string, unknown> {
  const parent = g.registry.adapterParent.get(id);
  const card: Record<string, unknown> = {
    id,
    object: "model",
    created: g.startedAt,
    owned_by: "aibrix-ts",
    root: id,
    parent: parent ?? null,
  };
  const context = modelLimit(g.registry.serving(id), g.maxBodyBytes).context;
  if (context !== undefined) card.max_model_len = context;
  return card;
}

/** `GET /v1/models/{id}` as OpenAI answers it: the card, or 404 `model_not_found`. */
function retrieveModel(g: GetRoutes, res: ServerResponse, encoded: string): void {
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    id = encoded;
  }
  if (servedModels(g).includes(id)) return sendJson(res, modelCard(g, id));
  sendError(res, {
    status: 404,
    message: `model ${id} does not exist; GET /v1/models lists the served models`,
    code: "model_not_found",
    param: "model",
  });
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
