// A loopback control plane prepared for `aibrix-ts controllers`: the chart's CRDs, the controllers' ServiceAccount
// and RBAC exactly as the chart renders them, and a kubeconfig that acts as that ServiceAccount — so what the chart's
// roles do not allow fails in a test as it would in a cluster.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path, { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments, stringify } from "yaml";
import { startCluster, type ClusterOptions, type LoopbackCluster } from "../../cluster/index.js";
import { installCrds } from "../../cluster/crds.js";
import { assertPodRangeIsLocal, NAMESPACED_POD_CIDR } from "../../cluster/pod-network.js";
import { freePort } from "../../cluster/processes.js";
import { startWebhooks, type WebhookServer } from "../../webhooks/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);

/** Where the chart installs the controllers (and their leader-election Lease). */
export const SYSTEM_NAMESPACE = "aibrix-system";

export interface ControllersCluster {
  cluster: LoopbackCluster;
  /** Kubeconfig of the chart's `aibrix-ts-controllers` ServiceAccount. */
  kubeconfig: string;
  /** Our admission webhooks, when asked for, called by the API server through the chart's configurations. */
  webhooks?: WebhookServer;
  /** Stops the webhooks (if any) and the cluster. */
  stop(): Promise<void>;
}

const OBJECT_PATHS: Record<string, string> = {
  ServiceAccount: `/api/v1/namespaces/${SYSTEM_NAMESPACE}/serviceaccounts`,
  ClusterRole: "/apis/rbac.authorization.k8s.io/v1/clusterroles",
  ClusterRoleBinding: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
  MutatingWebhookConfiguration: "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
  ValidatingWebhookConfiguration: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
  Role: `/apis/rbac.authorization.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/roles`,
  RoleBinding: `/apis/rbac.authorization.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/rolebindings`,
};

/**
 * Starts a cluster on the namespaced pod range (run under scripts/netns.sh), creates `namespaces` and the system
 * namespace, installs CRDs and the controllers' RBAC, and returns the ServiceAccount's kubeconfig. With `webhooks`,
 * our admission webhooks run in this process and the chart's webhook configurations point the API server at them.
 */
export async function startControllersCluster(
  options: Pick<ClusterOptions, "nodes"> & { namespaces: string[]; webhooks?: boolean },
): Promise<ControllersCluster> {
  await assertPodRangeIsLocal(NAMESPACED_POD_CIDR);
  const cluster = await startCluster({
    log: process.env.AIBRIX_TS_E2E_LOG ? (l) => console.error(`[cluster] ${l}`) : undefined,
    podCidr: NAMESPACED_POD_CIDR,
    nodes: options.nodes,
  });
  let webhooks: WebhookServer | undefined;
  const stop = async () => {
    await webhooks?.close();
    await cluster.stop();
  };
  try {
    const api = cluster.api;
    for (const ns of [...options.namespaces, SYSTEM_NAMESPACE]) {
      await api.create("/api/v1/namespaces", { metadata: { name: ns } });
    }
    await installCrds(api);
    const templates = ["--show-only", "templates/controllers.yaml"];
    if (options.webhooks) {
      const port = await freePort();
      webhooks = await startWebhooks({
        host: "127.0.0.1",
        port,
        logLevel: "error",
        certificates: { namespace: SYSTEM_NAMESPACE },
        kube: { kubeConfig: cluster.kubeconfig, webhookUrl: `https://127.0.0.1:${port}` },
      });
      templates.push("--show-only", "templates/webhooks.yaml");
    }
    const { stdout } = await run(join(cluster.state.binDir, "helm"), [
      ...["template", "aibrix-ts", join(root, "charts/aibrix-ts"), "--namespace", SYSTEM_NAMESPACE],
      ...["--set", "development.enabled=true", "--set", "development.extenderUrl=http://127.0.0.1:8383/scheduler"],
      ...["--set", `development.webhookUrl=${webhooks?.url ?? "https://127.0.0.1:9443"}`],
      ...(webhooks
        ? ["--set", `development.webhookCaBundle=${Buffer.from(webhooks.caBundle).toString("base64")}`]
        : []),
      ...templates,
    ]);
    for (const doc of parseAllDocuments(stdout).map((d) => d.toJSON() as { kind: string } | null)) {
      if (!doc) continue;
      expect(
        OBJECT_PATHS[doc.kind],
        `development mode renders only RBAC and webhook configurations, got ${doc.kind}`,
      ).to.be.a("string");
      await api.create(OBJECT_PATHS[doc.kind]!, doc);
    }
    return { cluster, kubeconfig: await serviceAccountKubeconfig(cluster), webhooks, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A kubeconfig that authenticates as the chart's controllers ServiceAccount. */
async function serviceAccountKubeconfig(cluster: LoopbackCluster): Promise<string> {
  const api = cluster.api;
  const token = await api.create<{ status: { token: string } }>(
    `/api/v1/namespaces/${SYSTEM_NAMESPACE}/serviceaccounts/aibrix-ts-controllers/token`,
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
  );
  const kubeconfig = join(mkdtempSync(join(tmpdir(), "aibrix-ts-controllers-")), "kubeconfig");
  writeFileSync(
    kubeconfig,
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
  return kubeconfig;
}
