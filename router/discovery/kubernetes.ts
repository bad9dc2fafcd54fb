// Kubernetes discovery: informers over pods labelled model.aibrix.ai/name and over ModelAdapters (whose
// status.instances name the pods an adapter is loaded on). Pod → endpoint mapping is a pure function, tested alone.
import type * as k8s from "@kubernetes/client-node";
import { Model, ModelDefaults, Orchestration, portLabel } from "../../api/labels.js";
import type { EngineKind } from "../../engines/metric-names.js";
import { loadKubeConfig } from "../../kube/client.js";
import { Informers } from "../../kube/informers.js";
import { KubeClient } from "../../kube/request.js";
import { Resources, scoped } from "../../kube/resources.js";
import type { EndpointSpec } from "../endpoints/endpoints.js";
import { ConfigProfileError, parseConfigProfiles } from "../profiles/config-profile.js";
import type { ConfigProfileDoc } from "../profiles/types.js";
import type { Discovery, DiscoverySnapshot } from "./types.js";

/** The parts of a ModelAdapter the router reads. */
export interface ModelAdapterLike {
  metadata?: { name?: string; namespace?: string };
  status?: { instances?: string[] };
}

/** The model a pod serves: annotation first (names containing "/" cannot be label values), then the label. */
export function podModel(pod: k8s.V1Pod): string | undefined {
  return pod.metadata?.annotations?.[Model.name] ?? pod.metadata?.labels?.[Model.name];
}

/** Ready, not terminating, with an IP. */
export function podRoutable(pod: k8s.V1Pod): boolean {
  if (!pod.status?.podIP || pod.metadata?.deletionTimestamp) return false;
  if (pod.status.phase && pod.status.phase !== "Running") return false;
  return (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

/** Told about a pod whose `model.aibrix.ai/config` annotation is malformed (the pod still routes, without it). */
export type BadConfigHandler = (pod: k8s.V1Pod, err: ConfigProfileError) => void;

/** The pod's profile document; undefined when absent or malformed (reported through `onBad`). */
export function podConfigProfiles(pod: k8s.V1Pod, onBad?: BadConfigHandler): ConfigProfileDoc | undefined {
  const text = pod.metadata?.annotations?.[Model.config];
  if (text === undefined) return undefined;
  const where = `pod ${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""} annotation ${Model.config}`;
  try {
    return parseConfigProfiles(text, where);
  } catch (err) {
    if (!(err instanceof ConfigProfileError)) throw err;
    onBad?.(pod, err);
    return undefined;
  }
}

/**
 * A handler that warns once per pod and annotation text: snapshots are rebuilt on every pod event, and a malformed
 * annotation should be one log line, not one per event. A fixed (or again broken) annotation is a new text.
 */
export function reportOncePerPod(warn: (message: string) => void): BadConfigHandler {
  const reported = new Set<string>();
  return (pod, err) => {
    const id = pod.metadata?.uid ?? `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;
    const key = `${id}\u0000${pod.metadata?.annotations?.[Model.config] ?? ""}`;
    if (reported.has(key)) return;
    if (reported.size > 10_000) reported.clear();
    reported.add(key);
    warn(`${err.message}; routing this pod without its config profiles until the annotation is fixed`);
  };
}

/**
 * Endpoint for one pod, or undefined when the pod is not routable, serves no model, or is a Ray worker (the head
 * serves). `adapters` are the adapter names whose ModelAdapter status lists this pod.
 */
export function podToEndpoint(
  pod: k8s.V1Pod,
  adapters: readonly string[] = [],
  onBadConfig?: BadConfigHandler,
): EndpointSpec | undefined {
  const model = podModel(pod);
  if (!model || !podRoutable(pod)) return undefined;
  const labels = pod.metadata?.labels ?? {};
  if (labels[Orchestration.rayNodeType] === "worker") return undefined;
  const port = portLabel(labels[Model.port], ModelDefaults.port);
  const metricsPort = portLabel(labels[Model.metricPort], port);
  const engine = (labels[Model.engine] === "sglang" ? "sglang" : "vllm") as EngineKind;
  const ip = pod.status!.podIP!;
  const host = ip.includes(":") ? `[${ip}]` : ip;
  const config = podConfigProfiles(pod, onBadConfig);
  const gpuType = pod.spec?.nodeSelector?.["nvidia.com/gpu.product"] ?? labels["model.aibrix.ai/gpu-type"] ?? undefined;
  return {
    id: `${host}:${port}`,
    host: ip,
    port,
    model,
    adapters: [...adapters],
    engine,
    gpuType,
    metricsPort: metricsPort === port ? undefined : metricsPort,
    labels: { ...labels },
    podName: pod.metadata?.name,
    kvEvents:
      labels[Model.kvEventsEnabled] === "true"
        ? { endpoint: `tcp://${host}:5557`, replayEndpoint: `tcp://${host}:5558` }
        : undefined,
    ...(config ? { config } : {}),
  };
}

/** namespace/pod → adapter names, from ModelAdapter status.instances. */
export function adaptersByPod(adapters: readonly ModelAdapterLike[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const a of adapters) {
    const name = a.metadata?.name;
    if (!name) continue;
    for (const podName of a.status?.instances ?? []) {
      const key = `${a.metadata?.namespace ?? ""}/${podName}`;
      const list = out.get(key);
      if (list) list.push(name);
      else out.set(key, [name]);
    }
  }
  return out;
}

export function snapshotFrom(
  pods: readonly k8s.V1Pod[],
  adapters: readonly ModelAdapterLike[],
  onBadConfig?: BadConfigHandler,
): DiscoverySnapshot {
  const byPod = adaptersByPod(adapters);
  const endpoints: EndpointSpec[] = [];
  const models = new Set<string>();
  for (const pod of pods) {
    const m = podModel(pod);
    if (m) models.add(m);
    const spec = podToEndpoint(
      pod,
      byPod.get(`${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`),
      onBadConfig,
    );
    if (spec) endpoints.push(spec);
  }
  for (const a of adapters) if (a.metadata?.name) models.add(a.metadata.name);
  return { endpoints, models: [...models] };
}

export interface KubernetesDiscoveryOptions {
  kubeconfig?: string;
  /** Restrict to one namespace (default: all). */
  namespace?: string;
  onError?(err: unknown): void;
  /** Told once per pod (and annotation text) about a malformed `model.aibrix.ai/config`; default: stderr. */
  onWarning?(message: string): void;
}

export class KubernetesDiscovery implements Discovery {
  private informers?: Informers;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly onBadConfig: BadConfigHandler;

  constructor(private readonly opts: KubernetesDiscoveryOptions = {}) {
    this.onBadConfig = reportOncePerPod(opts.onWarning ?? ((m: string) => console.error(`aibrix-ts router: ${m}`)));
  }

  async start(onChange: (snapshot: DiscoverySnapshot) => void): Promise<void> {
    let firstError: () => void = () => undefined;
    const failedOnce = new Promise<void>((resolve) => (firstError = resolve));
    const informers = new Informers(new KubeClient(loadKubeConfig(this.opts.kubeconfig)), {
      onError: (err) => {
        this.opts.onError?.(err);
        firstError();
      },
    });
    this.informers = informers;
    const ns = this.opts.namespace;
    // Pod objects arrive as the API server's JSON; the fields read here have the same shape in client-node's types.
    const pods = informers.for(scoped(Resources.pods, { namespace: ns, labelSelector: Model.name }));
    const adapters = informers.for(scoped(Resources.modelAdapters, { namespace: ns }));
    const snapshot = () =>
      snapshotFrom(
        pods.store.list() as unknown as k8s.V1Pod[],
        adapters.store.list() as ModelAdapterLike[],
        this.onBadConfig,
      );
    // Coalesce bursts of events into one snapshot.
    const emit = () => {
      if (this.closed) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => !this.closed && onChange(snapshot()), 20);
    };
    for (const informer of [pods, adapters]) informer.addHandler({ onAdd: emit, onUpdate: emit, onDelete: emit });
    informers.start();
    await pods.synced;
    // The ModelAdapter CRD may be absent (pods alone still route): wait for its list or its first failure.
    await Promise.race([adapters.synced, failedOnce]);
    onChange(snapshot());
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.informers?.stop();
    this.informers?.client.close();
  }
}
