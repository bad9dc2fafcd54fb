// `aibrix-ts local` (and `npm start`): the router in front of a small simulated fleet on this machine — two models,
// one LoRA adapter, mixed GPU types — and a ready-to-paste curl line.
import type { Command } from "commander";
import { StaticDiscovery, toEndpointSpec } from "../router/discovery/static.js";
import { startRouter, type Router } from "../router/server.js";
import { endpointEntry, SIMULATOR_TOKENIZER_DIR, startSimulator } from "../simulator/index.js";
import { closeOnSignal } from "./shutdown.js";
import { portFlag } from "./flags.js";

export interface LocalFleetOptions {
  host?: string;
  /** Router port (0 = any free port). */
  port?: number;
  /** Simulated time runs this many times faster than real hardware. */
  speedup?: number;
  strategy?: string;
  logLevel?: string;
}

export interface LocalFleet {
  router: Router;
  engines: { url: string; model: string; gpu: string; adapters: string[] }[];
  close(): Promise<void>;
}

/** The fleet: model, simulator engine calibration (GPU type × model size), adapters. */
const FLEET: { model: string; calibration: string; adapters: string[] }[] = [
  { model: "llama-3-8b", calibration: "h100-8b", adapters: ["sql-lora"] },
  { model: "llama-3-8b", calibration: "a100-8b", adapters: [] },
  { model: "llama-3-8b", calibration: "l40s-8b", adapters: ["sql-lora"] },
  { model: "qwen-3-32b", calibration: "h100-32b", adapters: [] },
];

/** Exact prefix affinity from the engines' KV events plus load: the profile that wins `bench/routing-quality`. */
const DEFAULT_STRATEGY = "kv-prefix-load";

export async function startLocalFleet(o: LocalFleetOptions = {}): Promise<LocalFleet> {
  const sims = await Promise.all(
    FLEET.map((f) =>
      startSimulator({
        host: "127.0.0.1",
        port: 0,
        model: f.model,
        calibration: f.calibration,
        speedup: o.speedup ?? 1,
        adapters: f.adapters,
        maxLoras: 4,
        // Engines publish their KV events (as vLLM does with --kv-events-config), so the default strategy routes on
        // what each engine actually holds; the replay socket lets the router catch up after a missed batch.
        kvEventsPort: 0,
        kvEventsReplayPort: 0,
        // Prompts become real token ids, and the router, given the same tokenizer, names the engines' blocks.
        tokenizer: SIMULATOR_TOKENIZER_DIR,
      }),
    ),
  );
  // The same entry the simulator writes to an endpoint file, read the way the router reads that file.
  const specs = sims.map((s) => toEndpointSpec(endpointEntry(s), `simulator ${s.url}`));
  let router: Router;
  try {
    router = await startRouter({
      host: o.host ?? "127.0.0.1",
      port: o.port ?? 8888,
      discovery: new StaticDiscovery(specs),
      defaultStrategy: o.strategy ?? DEFAULT_STRATEGY,
      tokenizers: Object.fromEntries(FLEET.map((f) => [f.model, SIMULATOR_TOKENIZER_DIR])),
      logLevel: o.logLevel ?? "info",
    });
  } catch (err) {
    await Promise.all(sims.map((s) => s.close()));
    throw err;
  }
  return {
    router,
    engines: sims.map((s) => ({ url: s.url, model: s.model, gpu: s.gpuType, adapters: s.adapters() })),
    async close() {
      await router.close();
      await Promise.all(sims.map((s) => s.close()));
    },
  };
}

export function curlLine(routerUrl: string, model = "llama-3-8b"): string {
  const body = JSON.stringify({
    model,
    messages: [{ role: "user", content: "Say hello in five words." }],
    max_tokens: 32,
  });
  return `curl -s ${routerUrl}/v1/chat/completions -H 'content-type: application/json' -d '${body}'`;
}

export function registerLocal(program: Command): void {
  program
    .command("local")
    .description("run the router with a simulated fleet (two models, one LoRA adapter, mixed GPUs) on localhost")
    .option("--port <port>", "router port", "8888")
    .option("--speedup <x>", "simulated engines run this many times faster than real hardware", "1")
    .option("--strategy <expr>", "default routing strategy", DEFAULT_STRATEGY)
    .option("--log-level <level>", "pino log level", "warn")
    .action(async (o: { port: string; speedup: string; strategy: string; logLevel: string }) => {
      const port = portFlag("port", o.port);
      const speedup = Number(o.speedup);
      if (!(speedup > 0)) throw new Error(`--speedup ${o.speedup}: must be a number > 0`);
      const fleet = await startLocalFleet({ port, speedup, strategy: o.strategy, logLevel: o.logLevel });
      console.log(`aibrix-ts router: ${fleet.router.url}  (OpenAI-compatible; strategy ${o.strategy})`);
      for (const e of fleet.engines) {
        console.log(
          `  engine ${e.url}  model=${e.model} gpu=${e.gpu}${e.adapters.length ? ` adapters=${e.adapters.join(",")}` : ""}`,
        );
      }
      console.log(`models: ${fleet.router.registry.models().join(", ")}`);
      console.log(`try:\n  ${curlLine(fleet.router.url)}`);
      console.log(`  curl -s ${fleet.router.url}/v1/models`);
      closeOnSignal(() => fleet.close());
    });
}
