// `aibrix-ts controllers` as a process of its own (as it runs in a cluster), for e2e tests and benchmarks, and the
// LoRA-enabled vLLM Deployment those place adapters on.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface ControllersProcess {
  child: ChildProcess;
  /** Where /healthz, /readyz and /metrics answer. */
  url: string;
  /** The last 8 kB the process wrote to stderr (its warnings and errors), for a failing test's message. */
  stderr(): string;
}

/** Starts the controllers with `flags` after the common ones; resolves once they serve probes and metrics. */
export async function startControllersProcess(
  kubeconfig: string,
  flags: string[],
  env: Record<string, string> = {},
): Promise<ControllersProcess> {
  const args = ["--import", "tsx", "cli/main.ts", "controllers", "--kubeconfig", kubeconfig];
  const child = spawn(
    process.execPath,
    [...args, "--host", "127.0.0.1", "--port", "0", "--log-level", "warn", ...flags],
    {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...env },
    },
  );
  let err = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.setEncoding("utf8").on("data", (c: string) => {
      err = (err + c).slice(-8000);
      const m = /probes and metrics on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`aibrix-ts controllers exited ${code}: ${err.slice(-2000)}`)));
  });
  child.once("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGKILL" && signal !== "SIGTERM") console.error(`controllers exited ${code}: ${err}`);
  });
  return { child, url, stderr: () => err };
}

/** A Deployment of vLLM pods serving `model` with run-time LoRA loading, one GPU each. */
export function loraDeployment(model: string, replicas: number, maxLoras: number) {
  return {
    metadata: { name: "llama" },
    spec: {
      replicas,
      selector: { matchLabels: { app: "llama" } },
      template: {
        metadata: { labels: { app: "llama", "model.aibrix.ai/name": model } },
        spec: {
          containers: [
            {
              name: "vllm-openai",
              image: "vllm/vllm-openai:v0.10.1",
              args: [
                "--model",
                "/models/llama",
                "--served-model-name",
                model,
                "--enable-lora",
                "--max-loras",
                String(maxLoras),
              ],
              env: [{ name: "VLLM_ALLOW_RUNTIME_LORA_UPDATING", value: "True" }],
              resources: { requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": "1" } },
            },
          ],
        },
      },
    },
  };
}
