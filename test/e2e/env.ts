// The end-to-end environment: the loopback control plane with the default fake GPU fleet, our admission webhooks and
// scheduler extender as local processes' servers (in this test process), and the Helm chart installed in development
// mode so kube-apiserver and the GPU scheduler call them on 127.0.0.1.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { parseProfiles } from "../../api/gpu-profile.js";
import { startExtender, type ExtenderHandle } from "../../extender/index.js";
import { Scheduling } from "../../api/labels.js";
import { startWebhooks, type WebhookServer } from "../../webhooks/server.js";
import { chartSchedulerProfile, startCluster, type LoopbackCluster } from "../../cluster/index.js";
import { freePort } from "../../cluster/processes.js";

const run = promisify(execFile);
/** The chart to install; AIBRIX_TS_E2E_CHART points the suite at another copy (e.g. a chart under development). */
export const CHART = process.env.AIBRIX_TS_E2E_CHART ?? new URL("../../charts/aibrix-ts", import.meta.url).pathname;
export const RELEASE = "aibrix-ts";
export const SYSTEM_NAMESPACE = "aibrix-system";
/** Release "aibrix-ts" of chart "aibrix-ts": object names are aibrix-ts-<component>. */
export const MUTATING_CONFIGURATION = "aibrix-ts-webhooks-mutating";
export const VALIDATING_CONFIGURATION = "aibrix-ts-webhooks-validating";

/**
 * GPU profiles for the placement tests. llama-70b: L4 cannot meet the SLO (throughput 0 everywhere), A100 is the
 * cheapest per token, H100 is feasible but dearer, A10G has no profile. Every type is 80 GiB except L4/A10G.
 */
export const PROFILES = `
gpus:
  H100: { memoryGiB: 80, products: [NVIDIA-H100-80GB-HBM3] }
  A100: { memoryGiB: 80, products: [NVIDIA-A100-SXM4-80GB] }
  L4: { memoryGiB: 24, products: [NVIDIA-L4] }
  A10G: { memoryGiB: 24, products: [NVIDIA-A10G] }
models:
  llama-70b:
    profiles:
      - { gpu: H100, cost: 12.0, tputs: [[20, 20], [20, 20]], indexes: [[128, 256], [128, 256]] }
      - { gpu: A100, cost: 3.0, tputs: [[18, 18], [18, 18]], indexes: [[128, 256], [128, 256]] }
      - { gpu: L4, cost: 0.8, tputs: [[0, 0], [0, 0]], indexes: [[128, 256], [128, 256]] }
`;

export interface E2eEnv {
  cluster: LoopbackCluster;
  /** kwok's pod range, e.g. 127.123.0.0/16. */
  podCidr: string;
  webhooks: WebhookServer;
  extender: ExtenderHandle;
  helm: string;
  kubectl: string;
  stop(): Promise<void>;
}

export async function helmRun(env: Pick<E2eEnv, "helm" | "cluster">, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(env.helm, [...args, "--kubeconfig", env.cluster.kubeconfig], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    // helm's own words, not the whole command line (it carries a base64 CA bundle).
    const stderr = (err as { stderr?: string }).stderr?.trim() ?? String(err);
    throw new Error(`helm ${args.slice(0, 3).join(" ")} failed: ${stderr}`, { cause: err });
  }
}

export async function kubectl(env: Pick<E2eEnv, "kubectl" | "cluster">, args: string[]): Promise<string> {
  const { stdout } = await run(env.kubectl, ["--kubeconfig", env.cluster.kubeconfig, ...args], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** Waits for an events.k8s.io Event: controllers record them in the background, beside the status they patch. */
export async function waitForEvent(
  api: Pick<LoopbackCluster["api"], "get">,
  namespace: string,
  regarding: string,
  reason: string,
): Promise<void> {
  await waitFor(`a ${reason} Event for ${regarding}`, 10_000, async () => {
    const events = await api.get<{ items: { reason: string; regarding: { name: string } }[] }>(
      `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
    );
    return events.items.some((e) => e.regarding.name === regarding && e.reason === reason) ? true : undefined;
  });
}

/**
 * Pod IPs come from a random /16 inside 127.0.0.0/8: Linux routes all of it to `lo`, so a process listening on a
 * pod's IP *is* that pod's container (the simulator stands in for the engine). Random, so two runs on one machine
 * do not hand out the same addresses.
 */
export function loopbackPodCidr(): string {
  return `127.${100 + Math.floor(Math.random() * 150)}.0.0/16`;
}

export async function startE2eEnv(log: (line: string) => void = () => {}): Promise<E2eEnv> {
  const podCidr = loopbackPodCidr();
  const cluster = await startCluster({ log, podCidr, kuberay: true });
  const stops: (() => Promise<void>)[] = [() => cluster.stop()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const bin = (name: string) => join(cluster.state.binDir, name);
    await cluster.api.create("/api/v1/namespaces", { metadata: { name: SYSTEM_NAMESPACE } });

    // Webhooks: certificate in a Secret of aibrix-system, caBundle kept in the chart's configurations.
    const webhookPort = await freePort();
    const webhookUrl = `https://127.0.0.1:${webhookPort}`;
    const webhooks = await startWebhooks({
      host: "127.0.0.1",
      port: webhookPort,
      logLevel: "error",
      // The cluster runs the GPU scheduler profile, so GPU model pods are pointed at it.
      config: { gpuSchedulerName: Scheduling.gpuSchedulerName },
      certificates: { namespace: SYSTEM_NAMESPACE },
      kube: {
        kubeConfig: cluster.kubeconfig,
        webhookUrl,
        mutatingConfiguration: MUTATING_CONFIGURATION,
        validatingConfiguration: VALIDATING_CONFIGURATION,
      },
    });
    stops.push(() => webhooks.close());

    const extender = await startExtender({
      host: "127.0.0.1",
      port: 0,
      kubeconfig: cluster.kubeconfig,
      profiles: parseProfiles(PROFILES, "e2e profiles"),
      logLevel: "error",
    });
    stops.push(() => extender.close());
    await extender.synced;

    // The chart, in development mode: CRDs, RBAC, the webhook configurations pointing at 127.0.0.1.
    const helm = bin("helm");
    await helmRun({ helm, cluster }, [
      "install",
      RELEASE,
      CHART,
      "--namespace",
      SYSTEM_NAMESPACE,
      "--set",
      "development.enabled=true",
      "--set",
      `development.webhookUrl=${webhookUrl}`,
      "--set",
      `development.webhookCaBundle=${Buffer.from(webhooks.caBundle).toString("base64")}`,
      "--set",
      `development.extenderUrl=${extender.urlPrefix}`,
      "--wait",
      "--timeout",
      "3m",
    ]);
    log("chart installed");

    // The GPU scheduler runs as a local process with the extender wiring and profile the chart renders.
    await cluster.startGpuScheduler(
      { urlPrefix: extender.urlPrefix, bindVerb: "bind", preemptVerb: "preempt", weight: 5 },
      chartSchedulerProfile(),
    );
    return { cluster, podCidr, webhooks, extender, helm, kubectl: bin("kubectl"), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
