// vLLM's HTTP surface of one simulated engine, route by route (generation itself is in generate.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SimulatorCore } from "./core.js";
import { parseEmbeddingRequest, embeddingResponse } from "./embeddings.js";
import type { FaultSettings } from "./faults.js";
import { handleGenerate } from "./generate.js";
import { readJson, sendJson } from "./http-io.js";
import { HttpError, badRequest, contextTooLong, notFound } from "./openai.js";
import { processStats } from "./process-stats.js";
import type { RunningSimulator } from "./running.js";

async function handleEmbeddings(core: SimulatorCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const parsed = parseEmbeddingRequest(await readJson(req));
  if (parsed.model !== core.model) throw notFound(`The model \`${parsed.model}\` does not exist.`, "model");
  for (const tokens of parsed.inputs) {
    if (tokens.length > core.config.maxModelLen) {
      throw contextTooLong(core.config.maxModelLen, tokens.length, undefined);
    }
  }
  sendJson(res, 200, embeddingResponse(core.requestId("embd"), core.created(), parsed));
}

async function handleLoad(
  core: SimulatorCore,
  sim: RunningSimulator,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const body = await readJson(req);
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const name = b.lora_name;
  const path = b.lora_path;
  if (typeof name !== "string" || name === "" || typeof path !== "string" || path === "") {
    throw new HttpError(400, "InvalidUserInput", "Both 'lora_name' and 'lora_path' must be provided.");
  }
  if (core.adapters.has(name)) {
    throw new HttpError(400, "InvalidUserInput", `The lora adapter '${name}' has already been loaded.`);
  }
  if (core.config.maxLoras === 0) {
    throw new HttpError(400, "InvalidUserInput", "LoRA is not enabled on this engine (max_loras is 0).");
  }
  await sim.loadAdapter(name, path);
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
  res.end(`Success: LoRA adapter '${name}' added successfully.`);
}

async function handleUnload(
  core: SimulatorCore,
  sim: RunningSimulator,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const body = await readJson(req);
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const name = b.lora_name;
  if (typeof name !== "string" || name === "") {
    throw new HttpError(400, "InvalidUserInput", "'lora_name' needs to be provided to unload a LoRA adapter.");
  }
  if (!core.adapters.has(name)) {
    throw new HttpError(404, "NotFoundError", `The lora adapter '${name}' cannot be found.`);
  }
  sim.unloadAdapter(name);
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
  res.end(`Success: LoRA adapter '${name}' removed successfully.`);
}

export function modelsList(core: SimulatorCore): unknown {
  const now = core.created();
  const card = (id: string, root: string, parent: string | null) => ({
    id,
    object: "model",
    created: now,
    owned_by: "vllm",
    root,
    parent,
    max_model_len: core.config.maxModelLen,
    permission: [],
  });
  return {
    object: "list",
    data: [
      card(core.model, core.model, null),
      ...[...core.adapters.values()].map((a) => card(a.name, a.path, core.model)),
    ],
  };
}

/** The admin and observability routes: health, metrics, prefix cache reset, faults, stats, process figures. */
async function routeOperations(
  core: SimulatorCore,
  sim: RunningSimulator,
  method: string,
  url: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (method === "GET" && url === "/health") {
    if (core.faults.settings.hang) {
      core.hung.add(res);
      return;
    }
    res.writeHead(200).end();
    return;
  }
  if (method === "GET" && url === "/metrics") {
    const text = await core.metrics.text();
    res.writeHead(200, { "content-type": core.metrics.registry.contentType }).end(text);
    return;
  }
  if (method === "POST" && url === "/reset_prefix_cache") {
    if (!sim.resetPrefixCache()) {
      throw badRequest("reset_prefix_cache: requests still hold KV blocks; retry when the engine is idle");
    }
    res.writeHead(200).end();
    return;
  }
  if (url === "/admin/faults") {
    if (method === "GET") return sendJson(res, 200, core.faults.settings);
    if (method === "POST") {
      const body = await readJson(req);
      const next = sim.setFaults(body as Partial<FaultSettings>);
      return sendJson(res, 200, next);
    }
  }
  if (method === "GET" && url === "/admin/stats") return sendJson(res, 200, sim.stats());
  if (method === "GET" && url === "/admin/process") {
    const query = req.url ?? "";
    return sendJson(res, 200, processStats(query.includes("reset=1"), query.includes("interval=1")));
  }
  throw notFound(`${method} ${url}: no such route`);
}

export async function route(
  core: SimulatorCore,
  sim: RunningSimulator,
  apiKey: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = (req.url ?? "/").split("?")[0];
  const method = req.method ?? "GET";
  // vLLM checks the key on /v1 paths only, and answers {"error": "Unauthorized"}.
  if (apiKey !== undefined && url?.startsWith("/v1") && req.headers.authorization !== `Bearer ${apiKey}`) {
    req.resume();
    return sendJson(res, 401, { error: "Unauthorized" });
  }
  if (method === "POST" && url === "/v1/completions") return handleGenerate(core, "completions", req, res);
  if (method === "POST" && url === "/v1/chat/completions") return handleGenerate(core, "chat", req, res);
  if (method === "POST" && url === "/v1/embeddings") return handleEmbeddings(core, req, res);
  if (method === "GET" && url === "/v1/models") return sendJson(res, 200, modelsList(core));
  if (method === "POST" && url === "/v1/load_lora_adapter") return handleLoad(core, sim, req, res);
  if (method === "POST" && url === "/v1/unload_lora_adapter") return handleUnload(core, sim, req, res);
  return routeOperations(core, sim, method, url, req, res);
}
