// `aibrix-ts controllers` as a process of its own (as it runs in a cluster), for e2e tests and benchmarks, and the
// LoRA-enabled vLLM Deployment those place adapters on.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments, stringify } from "yaml";
import type { LoopbackCluster } from "../../cluster/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);

export interface ControllersProcess {
  child: ChildProcess;
  /** Where /healthz, /readyz and /metrics answer. */
  url: string;
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
  return { child, url };
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

/**
 * Installs the controllers' ServiceAccount and RBAC exactly as the chart renders them (development mode) and returns
 * a kubeconfig that acts as that ServiceAccount: what the chart's roles do not allow fails in the test as in a cluster.
 */
export async function chartControllersKubeconfig(cluster: LoopbackCluster, systemNamespace: string): Promise<string> {
  const { stdout } = await run(path.join(cluster.state.binDir, "helm"), [
    "template",
    "aibrix-ts",
    path.join(root, "charts/aibrix-ts"),
    "--namespace",
    systemNamespace,
    "--set",
    "development.enabled=true",
    "--set",
    "development.webhookUrl=https://127.0.0.1:9443",
    "--set",
    "development.extenderUrl=http://127.0.0.1:8383/scheduler",
    "--show-only",
    "templates/controllers.yaml",
  ]);
  const base: Record<string, string> = {
    ServiceAccount: `/api/v1/namespaces/${systemNamespace}/serviceaccounts`,
    ClusterRole: "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    ClusterRoleBinding: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    Role: `/apis/rbac.authorization.k8s.io/v1/namespaces/${systemNamespace}/roles`,
    RoleBinding: `/apis/rbac.authorization.k8s.io/v1/namespaces/${systemNamespace}/rolebindings`,
  };
  for (const doc of parseAllDocuments(stdout).map((d) => d.toJSON() as { kind: string } | null)) {
    if (!doc) continue;
    const where = base[doc.kind];
    if (!where) throw new Error(`development mode should render only RBAC, got ${doc.kind}`);
    await cluster.api.create(where, doc);
  }
  return await serviceAccountKubeconfig(cluster, systemNamespace, "aibrix-ts-controllers");
}

/** A kubeconfig acting as ServiceAccount `namespace/name` (a bound token valid for an hour). */
export async function serviceAccountKubeconfig(
  cluster: LoopbackCluster,
  namespace: string,
  name: string,
): Promise<string> {
  const token = await cluster.api.create<{ status: { token: string } }>(
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
  );
  const file = path.join(mkdtempSync(path.join(tmpdir(), `aibrix-ts-${name}-`)), "kubeconfig");
  writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "c",
          cluster: {
            server: cluster.state.server,
            "certificate-authority-data": Buffer.from(cluster.pki.ca.certPem).toString("base64"),
          },
        },
      ],
      users: [{ name: "sa", user: { token: token.status.token } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "sa" } }],
      "current-context": "c",
    }),
  );
  return file;
}
