// Real vLLM engines for the real-engine test tier: the CPU build from the cached venv, serving the tiny model, each
// bound to its own core, publishing KV events on ipc:// sockets (the publisher binds ipc endpoints; see
// shared reference real-vllm.md). scripts/real-engine.sh (run by scripts/prereqs.sh) prepares venv and model.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface RealEngineSetup {
  venv: string;
  /** The tiny model's directory (weights, tokenizer files). */
  model: string;
  /** Its LoRA adapter's directory. */
  adapter: string;
}

/** Venv and model, prepared (quick when cached); the error says how to prepare them by hand. */
export function realEngineSetup(): RealEngineSetup {
  let out: string;
  try {
    out = execFileSync(path.join(ROOT, "scripts/real-engine.sh"), {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
  } catch (err) {
    throw new Error(`the real-engine tier needs vLLM's CPU build: run scripts/prereqs.sh (${(err as Error).message})`, {
      cause: err,
    });
  }
  const get = (k: string) => /^(\w+)=(.*)$/m.exec(out.split("\n").find((l) => l.startsWith(`${k}=`)) ?? "")?.[2];
  const venv = get("venv");
  const dir = get("model");
  if (!venv || !dir) throw new Error(`scripts/real-engine.sh printed no venv/model lines: ${out}`);
  return { venv, model: path.join(dir, "model"), adapter: path.join(dir, "adapter") };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RealEngine {
  name: string;
  url: string;
  host: string;
  port: number;
  kvEndpoint: string;
  kvReplayEndpoint: string;
  topic: string;
  process: ChildProcess;
  log(): string;
  close(): Promise<void>;
}

/** Starts one engine serving `servedName`, its OpenMP threads bound to `core`; resolves once /v1/models answers. */
export async function startRealEngine(
  setup: RealEngineSetup,
  servedName: string,
  core: number,
  o: {
    /** More vLLM flags (e.g. --num-gpu-blocks-override N for a cache small enough to evict). */
    extraArgs?: string[];
    /** Mostly Python imports: 24 s on a quiet machine, minutes on a loaded one. */
    readyTimeoutMs?: number;
    /** Address and port to serve on (default 127.0.0.1 and a free port), e.g. a pod's IP and container port. */
    host?: string;
    port?: number;
  } = {},
): Promise<RealEngine> {
  const readyTimeoutMs = o.readyTimeoutMs ?? 480_000;
  const dir = mkdtempSync(path.join(tmpdir(), "vllm-"));
  const host = o.host ?? "127.0.0.1";
  const port = o.port ?? (await freePort());
  const kvEndpoint = `ipc://${dir}/kv.ipc`;
  const kvReplayEndpoint = `ipc://${dir}/kvr.ipc`;
  const logFile = path.join(dir, "engine.log");
  const fd = openSync(logFile, "a");
  const kvConfig = {
    enable_kv_cache_events: true,
    publisher: "zmq",
    endpoint: kvEndpoint,
    replay_endpoint: kvReplayEndpoint,
    topic: "kv",
  };
  // Two engines with the default binding both pin core 0; one core each keeps them from fighting.
  const proc = spawn(
    path.join(setup.venv, "bin/python"),
    [
      "-m",
      "vllm.entrypoints.openai.api_server",
      ...["--model", setup.model, "--served-model-name", servedName, "--dtype", "bfloat16", "--enforce-eager"],
      ...["--max-model-len", "1024", "--host", host, "--port", String(port), "--enable-prefix-caching"],
      ...["--kv-events-config", JSON.stringify(kvConfig)],
      ...["--enable-lora", "--max-loras", "2", "--max-lora-rank", "8"],
      ...(o.extraArgs ?? []),
    ],
    {
      cwd: dir,
      // Its own process group, so that stopping it stops the engine-core process it forks as well.
      detached: true,
      stdio: ["ignore", fd, fd],
      env: {
        ...process.env,
        VLLM_CPU_KVCACHE_SPACE: "1",
        VLLM_ALLOW_RUNTIME_LORA_UPDATING: "True",
        VLLM_CPU_OMP_THREADS_BIND: String(core),
        VLLM_NO_USAGE_STATS: "1",
        DO_NOT_TRACK: "1",
        HF_HUB_OFFLINE: "1",
      },
    },
  );
  const url = `http://${host}:${port}`;
  const engine: RealEngine = {
    name: servedName,
    url,
    host,
    port,
    kvEndpoint,
    kvReplayEndpoint,
    topic: "kv",
    process: proc,
    log: () => readFileSync(logFile, "utf8"),
    close: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        const group = (signal: NodeJS.Signals) => {
          try {
            process.kill(-proc.pid!, signal);
          } catch {
            // already gone
          }
        };
        group("SIGTERM");
        const timer = setTimeout(() => group("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (proc.exitCode !== null) {
      const tail = engine.log().split("\n").slice(-30).join("\n");
      await engine.close();
      throw new Error(`vLLM exited with ${proc.exitCode} before serving:\n${tail}`);
    }
    const ok = await fetch(`${url}/v1/models`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return engine;
    if (Date.now() > deadline) {
      const tail = engine.log().split("\n").slice(-30).join("\n");
      await engine.close();
      throw new Error(`vLLM did not serve within ${readyTimeoutMs} ms:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
