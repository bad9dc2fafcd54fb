// Cluster I/O for the extender: node and pod informers that keep the state current, and the Binding writer.
import http from "node:http";
import https from "node:https";
import * as k8s from "@kubernetes/client-node";
import type { BindingRequest, PodBinder } from "./bind.js";
import type { ClusterFeed } from "./state.js";
import type { NodeObject, PodObject } from "./wire.js";

export interface InformerHandle {
  /** Resolves once the first list of nodes and of pods has been applied. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

type Logger = { warn(obj: object, msg: string): void };

/** Watches every node and every non-terminal pod, feeding adds, updates and deletes into the state. */
export function startInformers(kc: k8s.KubeConfig, feed: ClusterFeed, log: Logger): InformerHandle {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  // Terminal pods hold no GPUs; a pod that turns terminal leaves the selector and arrives as a delete.
  const podSelector = "status.phase!=Succeeded,status.phase!=Failed";
  const nodes = new k8s.ListWatch<k8s.V1Node>("/api/v1/nodes", new k8s.Watch(kc), () => core.listNode(), false);
  const pods = new k8s.ListWatch<k8s.V1Pod>(
    "/api/v1/pods",
    new k8s.Watch(kc),
    () => core.listPodForAllNamespaces({ fieldSelector: podSelector }),
    false,
    undefined,
    podSelector,
  );
  // client-node hands back its deserialised classes; the JSON-shaped view is all placement reads.
  nodes.on("add", (n) => feed.upsertNode(n as unknown as NodeObject));
  nodes.on("update", (n) => feed.upsertNode(n as unknown as NodeObject));
  nodes.on("delete", (n) => n.metadata?.name && feed.deleteNode(n.metadata.name));
  pods.on("add", (p) => feed.upsertPod(p as unknown as PodObject));
  pods.on("update", (p) => feed.upsertPod(p as unknown as PodObject));
  pods.on("delete", (p) => feed.deletePod(p as unknown as PodObject));

  let stopped = false;
  const restartOnError = (what: string, informer: k8s.ListWatch<k8s.KubernetesObject>) => (err: unknown) => {
    log.warn({ err: String(err), informer: what }, "informer stopped; restarting in 2s");
    if (!stopped) setTimeout(() => !stopped && void informer.start().catch(() => undefined), 2000).unref();
  };
  nodes.on("error", restartOnError("nodes", nodes as unknown as k8s.ListWatch<k8s.KubernetesObject>));
  pods.on("error", restartOnError("pods", pods as unknown as k8s.ListWatch<k8s.KubernetesObject>));

  // ListWatch lists, applies, then opens its watch; `connect` fires before the list, so wait for the first list by
  // polling its resource version.
  const listed = (lw: { latestResourceVersion(): string }) =>
    new Promise<void>((resolve) => {
      const tick = () => (lw.latestResourceVersion() !== "" || stopped ? resolve() : setTimeout(tick, 50).unref());
      tick();
    });
  void nodes.start().catch(() => undefined);
  void pods.start().catch(() => undefined);
  return {
    synced: Promise.all([listed(nodes), listed(pods)]).then(() => undefined),
    stop: async () => {
      stopped = true;
      await Promise.all([nodes.stop(), pods.stop()]);
    },
  };
}

/**
 * client-node hands out a fresh, non-pooling agent on every call, so each bind paid a TLS handshake with a client
 * certificate. One keep-alive agent per kubeconfig, built from the same TLS material, keeps connections open.
 */
const keepAliveAgents = new WeakMap<k8s.KubeConfig, https.Agent>();

function pooledAgent(kc: k8s.KubeConfig, fresh: unknown): unknown {
  if (!(fresh instanceof https.Agent) || fresh.constructor !== https.Agent) return fresh; // proxies keep their own
  let agent = keepAliveAgents.get(kc);
  if (!agent) {
    agent = new https.Agent({ ...fresh.options, keepAlive: true, maxSockets: 32 });
    keepAliveAgents.set(kc, agent);
  }
  return agent;
}

/** One JSON request to the API server with the kubeconfig's credentials (token, client cert or CA). */
async function kubeRequest(kc: k8s.KubeConfig, method: string, path: string, body?: unknown): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster; set current-context");
  const url = new URL(path, cluster.server);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const opts: https.RequestOptions = {
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    headers: { accept: "application/json", ...(payload ? { "content-type": "application/json" } : {}) },
    timeout: 10_000,
  };
  await kc.applyToHTTPSOptions(opts);
  opts.agent = pooledAgent(kc, opts.agent) as https.Agent | undefined;
  const mod = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // keep text
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(parsed);
        const message =
          typeof parsed === "object" && parsed !== null && "message" in parsed
            ? String((parsed as { message: unknown }).message)
            : text.slice(0, 200);
        reject(new Error(`${method} ${url.pathname}: HTTP ${status}: ${message}`));
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: no answer within 10s`)));
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Posts Bindings to kube-apiserver. The Binding's uid is a precondition: a replaced pod of the same name fails. */
export class KubePodBinder implements PodBinder {
  constructor(private readonly kc: k8s.KubeConfig) {}

  async bind(req: BindingRequest): Promise<void> {
    const ns = encodeURIComponent(req.namespace);
    const name = encodeURIComponent(req.name);
    await kubeRequest(this.kc, "POST", `/api/v1/namespaces/${ns}/pods/${name}/binding`, {
      apiVersion: "v1",
      kind: "Binding",
      metadata: { name: req.name, namespace: req.namespace, uid: req.uid, annotations: req.annotations },
      target: { apiVersion: "v1", kind: "Node", name: req.node },
    });
  }

  async getPod(namespace: string, name: string): Promise<PodObject> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
    return (await kubeRequest(this.kc, "GET", path)) as PodObject;
  }
}

/** Used when the extender runs without a cluster: bind answers with an error that says so. */
export class NoClusterBinder implements PodBinder {
  async bind(): Promise<void> {
    throw new Error("the extender runs without a cluster connection (started with no kubeconfig); it cannot bind");
  }
  async getPod(namespace: string, name: string): Promise<PodObject> {
    throw new Error(`pod ${namespace}/${name} is unknown and there is no cluster connection to read it from`);
  }
}
