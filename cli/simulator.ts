// `aibrix-ts simulator`: one or more vLLM-compatible simulated engines; prints the router endpoint file (YAML).
import type { PrefixHashAlgo } from "../api/block-hash.js";
import { writeFile } from "node:fs/promises";
import { Option, type Command } from "commander";
import { calibrations, startSimulatorFleet, DEFAULT_CALIBRATION } from "../simulator/index.js";
import { SharedKvTier } from "../simulator/shared-tier.js";
import { closeOnSignal } from "./shutdown.js";
import { renamedFlag, wholeNumberOption } from "./flags.js";

function positive(field: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${field}: "${v}" must be a positive number`);
    return n;
  };
}

const list = (v: string): string[] =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

export function registerSimulator(program: Command): void {
  program
    .command("simulator")
    .description(
      "Run simulated vLLM engines (OpenAI API, /metrics, LoRA, KV events) calibrated to a GPU type and model size; " +
        "prints a router endpoint file",
    )
    .requiredOption("--model <name>", "served model name")
    .option(
      "--calibration <name>",
      `engine calibration, GPU type × model size (${[...calibrations().keys()].join(", ")}; default ${DEFAULT_CALIBRATION})`,
    )
    .addOption(new Option("--profile <name>", "deprecated name of --calibration").hideHelp())
    .option("--host <addr>", "listen address", "127.0.0.1")
    .option("--port <n>", "listen port (0 = free port)", wholeNumberOption("port"), 0)
    .option("--replicas <n>", "number of engines", wholeNumberOption("replicas"), 1)
    .option("--hosts <list>", "comma-separated listen addresses, one per replica (e.g. 127.0.0.2,127.0.0.3)", list)
    .option("--speedup <k>", "run simulated time k times faster than real time", positive("speedup"), 1)
    .option("--max-loras <n>", "GPU LoRA slots", wholeNumberOption("max-loras"))
    .option("--adapters <list>", "comma-separated LoRA adapters loaded at start", list)
    .option(
      "--kv-events-port <n>",
      "publish KV events over ZMQ on this port (0 = free port)",
      wholeNumberOption("kv-events-port"),
    )
    .option(
      "--kv-events-replay-port <n>",
      "serve KV event replay (ROUTER) on this port (0 = free port)",
      wholeNumberOption("kv-events-replay-port"),
    )
    .option("--max-num-seqs <n>", "max running requests", wholeNumberOption("max-num-seqs"))
    .option("--max-num-batched-tokens <n>", "token budget per step", wholeNumberOption("max-num-batched-tokens"))
    .option("--max-model-len <n>", "context length", wholeNumberOption("max-model-len"))
    .option("--block-size <n>", "KV block size in tokens", wholeNumberOption("block-size"))
    .option("--num-gpu-blocks <n>", "KV cache size in blocks", wholeNumberOption("num-gpu-blocks"))
    .option("--endpoint-file <path>", "also write the endpoint file here")
    .option("--tokenizer <dir>", "the model's tokenizer files: prompts get the token ids a real engine computes")
    .option("--prefix-caching-hash-algo <algo>", "block hash, as vLLM's flag: sha256 (default) or sha256_cbor")
    .option("--api-key <key>", "as vLLM: /v1 requests must send Authorization: Bearer <key>")
    .option(
      "--shared-tier-blocks <n>",
      "give the replicas a shared KV tier of n blocks: GPU evictions go there, prefixes found there are loaded",
      wholeNumberOption("shared-tier-blocks"),
    )
    .option(
      "--shared-tier-gbps <g>",
      "bandwidth between an engine and the shared tier, Gbit/s",
      positive("shared-tier-gbps"),
      100,
    )
    .option(
      "--kv-bytes-per-token <n>",
      "KV bytes per token over all layers (default Llama-3-8B fp16: 2 × 32 layers × 8 heads × 128 × 2 B)",
      wholeNumberOption("kv-bytes-per-token"),
      131_072,
    )
    .action(async (o: Record<string, unknown>) => {
      const tierBlocks = o.sharedTierBlocks as number | undefined;
      const sharedTier =
        tierBlocks === undefined
          ? undefined
          : new SharedKvTier({
              capacityBlocks: tierBlocks,
              bytesPerBlock: (o.kvBytesPerToken as number) * ((o.blockSize as number | undefined) ?? 16),
              bandwidthBytesPerSecond: ((o.sharedTierGbps as number) * 1e9) / 8,
            });
      const fleet = await startSimulatorFleet({
        sharedTier,
        replicas: o.replicas as number,
        hosts: o.hosts as string[] | undefined,
        model: o.model as string,
        calibration: renamedFlag(o, "profile", "calibration"),
        host: o.host as string,
        port: o.port as number,
        speedup: o.speedup as number,
        maxLoras: o.maxLoras as number | undefined,
        adapters: o.adapters as string[] | undefined,
        kvEventsPort: o.kvEventsPort as number | undefined,
        kvEventsReplayPort: o.kvEventsReplayPort as number | undefined,
        maxNumSeqs: o.maxNumSeqs as number | undefined,
        maxNumBatchedTokens: o.maxNumBatchedTokens as number | undefined,
        maxModelLen: o.maxModelLen as number | undefined,
        blockSize: o.blockSize as number | undefined,
        numGpuBlocks: o.numGpuBlocks as number | undefined,
        tokenizer: o.tokenizer as string | undefined,
        prefixHashAlgo: o.prefixCachingHashAlgo as PrefixHashAlgo | undefined,
        prefixHashSeed: process.env.PYTHONHASHSEED,
        apiKey: o.apiKey as string | undefined,
        onCrash: (code) => process.exit(code),
      });
      const text = fleet.endpointFile();
      if (typeof o.endpointFile === "string") await writeFile(o.endpointFile, text);
      process.stdout.write(text);
      closeOnSignal(() => fleet.close());
    });
}
