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
import { freePort } from "../../cluster/processes.js";
import { nextTestPodCidr } from "./pod-ranges.js";
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
 * Creates what the chart renders in development mode from `templates` (development mode renders, of those, only
 * RBAC and webhook configurations: anything else fails the test, unless `rbacOnly` says to leave the rest out).
 */
async function applyChartTemplates(
  cluster: LoopbackCluster,
  templates: string[],
  sets: string[] = [],
  rbacOnly = false,
): Promise<void> {
  const { stdout } = await run(join(cluster.state.binDir, "helm"), [
    ...["template", "aibrix-ts", join(root, "charts/aibrix-ts"), "--namespace", SYSTEM_NAMESPACE],
    ...["--set", "development.enabled=true", "--set", "development.extenderUrl=http://127.0.0.1:8383/scheduler"],
    ...["--set", "development.webhookUrl=https://127.0.0.1:9443"],
    ...sets.flatMap((s) => ["--set", s]),
    ...templates.flatMap((t) => ["--show-only", `templates/${t}`]),
  ]);
  for (const doc of parseAllDocuments(stdout).map((d) => d.toJSON() as { kind: string } | null)) {
    if (!doc) continue;
    const where = OBJECT_PATHS[doc.kind];
    if (rbacOnly && (!where || doc.kind.endsWith("WebhookConfiguration"))) continue;
    expect(where, `development mode renders only RBAC and webhook configurations, got ${doc.kind}`).to.be.a("string");
    await cluster.api.create(where!, doc);
  }
}

/**
 * The controllers' ServiceAccount and RBAC exactly as the chart renders them, and a kubeconfig acting as that
 * ServiceAccount. The system namespace must exist.
 */
export async function chartControllersKubeconfig(cluster: LoopbackCluster): Promise<string> {
  await applyChartTemplates(cluster, ["controllers.yaml"]);
  return await serviceAccountKubeconfig(cluster, SYSTEM_NAMESPACE, "aibrix-ts-controllers");
}

/**
 * The ServiceAccount and RBAC of a chart component that runs as a local process in tests (the template's other
 * objects, its Deployment and Service, are left out), and a kubeconfig acting as that ServiceAccount.
 */
export async function chartComponentKubeconfig(
  cluster: LoopbackCluster,
  template: string,
  serviceAccount: string,
  sets: string[] = [],
): Promise<string> {
  await applyChartTemplates(cluster, [template], sets, true);
  return await serviceAccountKubeconfig(cluster, SYSTEM_NAMESPACE, serviceAccount);
}

/** A kubeconfig that authenticates as ServiceAccount `namespace/name` with a fresh token. */
export async function serviceAccountKubeconfig(
  cluster: LoopbackCluster,
  namespace: string,
  name: string,
): Promise<string> {
  const token = await cluster.api.create<{ status: { token: string } }>(
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
  );
  const kubeconfig = join(mkdtempSync(join(tmpdir(), `aibrix-ts-${name}-`)), "kubeconfig");
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

/**
 * Starts a cluster on the namespaced pod range (run under scripts/netns.sh), creates `namespaces` and the system
 * namespace, installs CRDs and the controllers' RBAC, and returns the ServiceAccount's kubeconfig. With `webhooks`,
 * our admission webhooks run in this process and the chart's webhook configurations point the API server at them.
 */
export async function startControllersCluster(
  options: Pick<ClusterOptions, "nodes"> & { namespaces: string[]; webhooks?: boolean },
): Promise<ControllersCluster> {
  const cluster = await startCluster({
    log: process.env.AIBRIX_TS_E2E_LOG ? (l) => console.error(`[cluster] ${l}`) : undefined,
    podCidr: await nextTestPodCidr(),
    nodes: options.nodes,
  });
  let webhooks: WebhookServer | undefined;
  const stop = async () => {
    await webhooks?.close();
    await cluster.stop();
  };
  try {
    for (const ns of [...options.namespaces, SYSTEM_NAMESPACE]) {
      await cluster.api.create("/api/v1/namespaces", { metadata: { name: ns } });
    }
    await installCrds(cluster.api);
    const kubeconfig = await chartControllersKubeconfig(cluster);
    if (options.webhooks) {
      const port = await freePort();
      webhooks = await startWebhooks({
        host: "127.0.0.1",
        port,
        logLevel: "error",
        certificates: { namespace: SYSTEM_NAMESPACE },
        kube: { kubeConfig: cluster.kubeconfig, webhookUrl: `https://127.0.0.1:${port}` },
      });
      await applyChartTemplates(
        cluster,
        ["webhooks.yaml"],
        [
          `development.webhookUrl=${webhooks.url}`,
          `development.webhookCaBundle=${Buffer.from(webhooks.caBundle).toString("base64")}`,
        ],
      );
    }
    return { cluster, kubeconfig, webhooks, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
