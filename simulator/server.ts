// One simulated engine: the engine model, its real-time loop, metrics, LoRA registry, fault state, KV event publisher
// and vLLM's HTTP surface on a plain node:http server (no framework: thousands of open SSE streams stay cheap).
// The parts are core.ts (engine and state), routes.ts and generate.ts (the HTTP surface) and running.ts (the handle).
import { fileURLToPath } from "node:url";
import type { Server, ServerResponse } from "node:http";
import { createServer } from "../serving/http-server.js";
import type { Socket } from "node:net";
import { createCore } from "./core.js";
import { KvEventPublisher } from "./kv-events.js";
import { HttpError, badRequest } from "./openai.js";
import { FaultError } from "./faults.js";
import type { SimulatorOptions } from "./options.js";
import { sendError } from "./http-io.js";
import { route } from "./routes.js";
import { runningSimulator, type RunningSimulator } from "./running.js";

export type { RunningSimulator, SimulatorStats } from "./running.js";
export type { SimulatorOptions } from "./options.js";

/**
 * The tokenizer shipped with the simulator: a small byte-level BPE with a chat template (built by
 * test/python/tiny_model.py; the real-engine tests serve a model with the same files).
 */

export const SIMULATOR_TOKENIZER_DIR = fileURLToPath(new URL("./tokenizer", import.meta.url));

/** Answers a failed request with its OpenAI-shaped error, or ends a stream that already started with it. */
function answerError(res: ServerResponse, err: unknown): void {
  const e =
    err instanceof HttpError
      ? err
      : err instanceof FaultError
        ? badRequest(err.message)
        : new HttpError(500, "InternalServerError", err instanceof Error ? err.message : String(err));
  if (res.headersSent) {
    if (!res.writableEnded) res.end(`data: ${JSON.stringify(e.body())}\n\n`);
    return;
  }
  sendError(res, e);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** The KV event publisher on `kvEventsPort`; on failure the server is closed and the error names the port. */
async function bindPublisher(
  server: Server,
  options: SimulatorOptions,
  host: string,
  topic: string,
): Promise<KvEventPublisher> {
  try {
    return await KvEventPublisher.bind(host, options.kvEventsPort!, topic, options.kvEventsReplayPort);
  } catch (e) {
    server.close();
    throw new Error(
      `kvEventsPort: ${options.kvEventsPort} could not be bound on ${host} (${e instanceof Error ? e.message : String(e)}); use 0 for a free port`,
      { cause: e },
    );
  }
}

export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const core = await createCore(options);
  const host = options.host ?? "127.0.0.1";
  let publisher: KvEventPublisher | undefined;
  core.loop.afterStep = () => {
    if (publisher) publisher.publish(core.engine.drainKvEvents());
    else core.engine.drainKvEvents();
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    return route(core, sim, options.apiKey, req, res).catch((err: unknown) => answerError(res, err));
  }).server;
  server.on("connection", (s: Socket) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await listen(server, options.port ?? 0, host);
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : (options.port ?? 0);

  let kvEventsTopic: string | undefined;
  if (options.kvEventsPort !== undefined) {
    kvEventsTopic = options.kvEventsTopic ?? `kv@${host}:${port}@${core.model}`;
    publisher = await bindPublisher(server, options, host, kvEventsTopic);
  }

  let closed = false;
  async function shutdown(): Promise<void> {
    if (closed) return;
    closed = true;
    core.loop.stop();
    core.engine.detach();
    publisher?.close();
    for (const r of core.hung) r.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }

  const sim = runningSimulator(core, {
    host,
    port,
    publisher,
    kvEventsTopic,
    loraApiLoadMs: options.loraApiLoadMs ?? 200,
    shutdown,
    onCrash: options.onCrash,
  });
  if (options.faults) sim.setFaults(options.faults);
  return sim;
}
