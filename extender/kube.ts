// Cluster I/O for the extender: node and pod informers that keep the state current, and the Binding writer.
import { Informers } from "../kube/informers.js";
import type { KubeClient } from "../kube/request.js";
import { Resources, scoped } from "../kube/resources.js";
import type { BindingRequest, PodBinder } from "./bind.js";
import type { ClusterFeed } from "./state.js";
import type { NodeObject, PodObject } from "./wire.js";

export interface InformerHandle {
  /** Resolves once the first list of nodes and of pods has been applied. */
  synced: Promise<void>;
  /** Whether the first list of nodes and of pods has been applied (the same moment `synced` resolves). */
  hasSynced(): boolean;
  stop(): Promise<void>;
}

type Logger = { warn(obj: object, msg: string): void };

/** Watches every node and every non-terminal pod, feeding adds, updates and deletes into the state. */
export function startInformers(client: KubeClient, feed: ClusterFeed, log: Logger): InformerHandle {
  const informers = new Informers(client, {
    onError: (err) => log.warn({ err: err.message }, "list/watch failed; retrying with backoff"),
  });
  // Terminal pods hold no GPUs; a pod that turns terminal leaves the selector and arrives as a delete.
  const pods = informers.for(scoped(Resources.pods, { fieldSelector: "status.phase!=Succeeded,status.phase!=Failed" }));
  const nodes = informers.for(Resources.nodes);
  // The JSON-shaped objects are what placement reads.
  nodes.addHandler({
    onAdd: (n) => feed.upsertNode(n as NodeObject),
    onUpdate: (_, n) => feed.upsertNode(n as NodeObject),
    onDelete: (n) => n.metadata?.name && feed.deleteNode(n.metadata.name),
  });
  pods.addHandler({
    onAdd: (p) => feed.upsertPod(p as PodObject),
    onUpdate: (_, p) => feed.upsertPod(p as PodObject),
    onDelete: (p) => feed.deletePod(p as PodObject),
  });
  informers.start();
  return { synced: informers.synced(), hasSynced: () => informers.allSynced(), stop: () => informers.stop() };
}

/** Posts Bindings to kube-apiserver. The Binding's uid is a precondition: a replaced pod of the same name fails. */
export class KubePodBinder implements PodBinder {
  constructor(private readonly client: KubeClient) {}

  async bind(req: BindingRequest): Promise<void> {
    const ns = encodeURIComponent(req.namespace);
    const name = encodeURIComponent(req.name);
    await this.client.request("POST", `/api/v1/namespaces/${ns}/pods/${name}/binding`, {
      timeoutMs: 10_000,
      body: {
        apiVersion: "v1",
        kind: "Binding",
        metadata: { name: req.name, namespace: req.namespace, uid: req.uid, annotations: req.annotations },
        target: { apiVersion: "v1", kind: "Node", name: req.node },
      },
    });
  }

  async getPod(namespace: string, name: string): Promise<PodObject> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
    return await this.client.get<PodObject>(path, { timeoutMs: 10_000 });
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
