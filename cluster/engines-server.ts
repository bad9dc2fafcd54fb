// The engine-pod launcher as a long-running process of `aibrix-ts cluster up --engines`: it reconciles engines for
// the cluster recorded in a state directory and answers on loopback, /healthz once its watches have listed and
// /engines with what runs where.
import { createServer, type Server } from "node:http";
import { readClusterState } from "./cluster.js";
import { startEnginePods, type EngineInfo, type EnginePods } from "./engine-pods.js";

export interface EnginesServerOptions {
  stateDir: string;
  /** Loopback port of /healthz and /engines. */
  port: number;
  startupDelayMs?: number;
  speedup?: number;
  log?: (line: string) => void;
}

export interface EnginesServer {
  engines: EnginePods;
  close(): Promise<void>;
}

/** What /engines reports of one engine. */
export function engineSummary(e: EngineInfo) {
  return {
    pod: e.podKey,
    node: e.nodeName,
    url: e.url,
    model: e.settings?.model,
    calibration: e.settings?.calibration,
    maxLoras: e.settings?.maxLoras,
    state: e.state,
    starts: e.starts,
    adapters: e.simulator?.adapters() ?? [],
    ...(e.error ? { error: e.error } : {}),
  };
}

export async function startEnginesServer(options: EnginesServerOptions): Promise<EnginesServer> {
  const state = readClusterState(options.stateDir);
  if (!state) throw new Error(`no cluster recorded in ${options.stateDir} (run: aibrix-ts cluster up)`);
  const engines = await startEnginePods({
    kubeconfig: state.kubeconfig,
    startupDelayMs: options.startupDelayMs,
    speedup: options.speedup,
    log: options.log,
  });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    } else if (path === "/engines") {
      const body = JSON.stringify([...engines.engines.values()].map(engineSummary), null, 2);
      res.writeHead(200, { "content-type": "application/json" }).end(body);
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /healthz or /engines");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  return {
    engines,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await engines.stop();
    },
  };
}
