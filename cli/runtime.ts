import type { Command } from "commander";
import { startRuntime } from "../runtime/index.js";
import { portFlag, wholeNumberFlag } from "./flags.js";
import { closeOnSignal } from "./shutdown.js";

interface RuntimeFlags {
  host: string;
  port: string;
}

export function registerRuntime(program: Command): void {
  program
    .command("runtime")
    .description(
      "engine runtime sidecar: adapter and model downloads, engine metrics under aibrix:* names (env INFERENCE_ENGINE, INFERENCE_ENGINE_ENDPOINT)",
    )
    .option("--host <addr>", "listen address", "0.0.0.0")
    .option("--port <n>", "listen port", "8080")
    .action(async (flags: RuntimeFlags) => {
      const env = process.env;
      const endpoint = env.INFERENCE_ENGINE_ENDPOINT ?? "http://localhost:8000";
      if (!/^https?:\/\//.test(endpoint)) {
        throw new Error(`INFERENCE_ENGINE_ENDPOINT ${JSON.stringify(endpoint)} must be an http(s) URL`);
      }
      const runtime = await startRuntime({
        host: flags.host,
        port: portFlag("port", flags.port),
        engine: env.INFERENCE_ENGINE,
        engineEndpoint: endpoint,
        metricsPath: env.METRIC_SCRAPE_PATH ?? "/metrics",
        adapterDir: env.RUNTIME_ADAPTER_DIR,
        modelDir: env.RUNTIME_MODEL_DIR,
        fetch: {
          concurrency: env.DOWNLOADER_NUM_THREADS
            ? wholeNumberFlag("DOWNLOADER_NUM_THREADS", env.DOWNLOADER_NUM_THREADS) || 1
            : 4,
          allowSuffixes: (env.DOWNLOADER_ALLOW_FILE_SUFFIX ?? "")
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s !== ""),
          hubEndpoint: env.HF_ENDPOINT ?? "https://huggingface.co",
          hubToken: env.HF_TOKEN,
        },
      });
      console.error(
        `aibrix-ts runtime: listening on ${flags.host}:${runtime.port}, engine ${env.INFERENCE_ENGINE ?? "vllm"} at ${endpoint}`,
      );
      closeOnSignal(() => runtime.close());
    });
}
