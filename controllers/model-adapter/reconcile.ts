// The ModelAdapter reconciler: converge "which Ready pods hold this adapter" to what the spec asks, verify every
// instance against its engine on each pass (an engine that restarted is reloaded), and report it in status, a
// headless Service and an EndpointSlice. Reads come from caches; every write is idempotent; a controller killed at
// any line converges on restart without loading anything twice (it asks the engine first).
import { Adapter } from "../../api/labels.js";
import type { ModelAdapter } from "../../api/kinds/model-adapter.js";
import { AdapterLoadError, type AdapterArtifact } from "../../engines/lora-client.js";
import type { ReconcileResult } from "../../kube/controller.js";
import type { EventRecorder } from "../../kube/events.js";
import { hasFinalizer, isDeleting, setCondition, type Condition, type KubeObject } from "../../kube/objects.js";
import type { ObjectReader } from "../../kube/store.js";
import type { EngineView } from "./engine-view.js";
import { choosePod, placementPolicy, type PodLoad } from "./placement.js";
import { candidatePods, engineAddress, podName, readySince, type Pod } from "./pods.js";
import { desiredEndpointSlice, desiredService, type EndpointSlice, type Service } from "./resources.js";

export type ModelAdapterObject = ModelAdapter & KubeObject & { apiVersion: string; kind: string };
type Status = NonNullable<ModelAdapter["status"]>;

/** The cluster writes the reconciler makes (kube-backed in index.ts, recorded in unit tests). */
export interface AdapterWriter {
  addFinalizer(adapter: ModelAdapterObject): Promise<ModelAdapterObject>;
  removeFinalizer(adapter: ModelAdapterObject): Promise<void>;
  patchStatus(adapter: ModelAdapterObject, status: Status): Promise<void>;
  ensureService(cached: Service | undefined, want: Service): Promise<void>;
  ensureEndpointSlice(cached: EndpointSlice | undefined, want: EndpointSlice): Promise<void>;
  /** The data of a Secret in the adapter's namespace (decoded), for sidecar downloads. */
  readSecret(namespace: string, name: string): Promise<Record<string, string>>;
}

export interface AdapterSettings {
  /** Every adapter is re-verified against its engines this often (default 10 s, upstream's resync). */
  resyncMs: number;
  /** A pod must have been Ready this long before a one-replica adapter is placed on it (default 5 s). */
  minReadyMs: number;
  /** Retry backoff of transient load failures per pod (default 5 s doubling to 300 s). */
  backoffMs: { base: number; max: number };
  /** Load through the runtime sidecar on pods that run one (upstream's --enable-runtime-sidecar). */
  useSidecar: boolean;
  /** Loads at once per adapter. */
  loadConcurrency: number;
}

export const DEFAULT_SETTINGS: AdapterSettings = {
  resyncMs: 10_000,
  minReadyMs: 5_000,
  backoffMs: { base: 5_000, max: 300_000 },
  useSidecar: true,
  loadConcurrency: 8,
};

export interface AdapterDeps {
  adapters: ObjectReader<ModelAdapterObject>;
  pods: ObjectReader<Pod>;
  services: ObjectReader<Service>;
  endpointSlices: ObjectReader<EndpointSlice>;
  engines: EngineView;
  writer: AdapterWriter;
  recorder: EventRecorder;
  /** Engine-reported LoRA capacity and latency per pod, for binPack and leastLatency (optional). */
  podStats?(pod: Pod): Promise<{ maxLoras?: number; latencySeconds?: number }>;
  clock?(): number;
  settings?: Partial<AdapterSettings>;
  random?(): number;
}

/** Per adapter generation and pod: failures so far, when to try again, and whether trying can help. */
interface Attempt {
  failures: number;
  nextAt: number;
  message: string;
  permanent: boolean;
}

export const READY = "Ready";
export const REASON_AVAILABLE = "ModelAdapterAvailable";
export const REASON_LOADING_ERROR = "ModelAdapterLoadingError";

export class ModelAdapterReconciler {
  private readonly settings: AdapterSettings;
  private readonly clock: () => number;
  /** adapter key → generation-scoped attempts by pod. */
  private readonly attempts = new Map<string, { generation: number; byPod: Map<string, Attempt> }>();
  /**
   * Adapter key → the pod this process placed it on, until the adapter's cached status lists that pod: concurrent
   * reconciles place from statuses the API server has not echoed back yet, and would all pick the same pod.
   */
  private readonly placements = new Map<string, { namespace: string; pod: string }>();

  constructor(private readonly deps: AdapterDeps) {
    this.settings = { ...DEFAULT_SETTINGS, ...deps.settings };
    this.clock = deps.clock ?? Date.now;
  }

  reconcile = async (key: string): Promise<ReconcileResult | void> => {
    let adapter = this.deps.adapters.get(key);
    if (!adapter) {
      this.attempts.delete(key);
      this.placements.delete(key);
      return;
    }
    if (isDeleting(adapter)) return await this.finalize(key, adapter);
    if (!hasFinalizer(adapter, Adapter.finalizer)) adapter = await this.deps.writer.addFinalizer(adapter);
    return await this.converge(key, adapter);
  };

  private attemptsFor(key: string, adapter: ModelAdapterObject): Map<string, Attempt> {
    const generation = adapter.metadata?.generation ?? 0;
    let entry = this.attempts.get(key);
    // A changed spec (new artifact, new selector) deserves a fresh start: old failures said nothing about it.
    if (!entry || entry.generation !== generation) this.attempts.set(key, (entry = { generation, byPod: new Map() }));
    return entry.byPod;
  }

  private async converge(key: string, adapter: ModelAdapterObject): Promise<ReconcileResult> {
    const now = this.clock();
    const name = adapter.metadata?.name ?? "";
    const namespace = adapter.metadata?.namespace ?? "";
    const attempts = this.attemptsFor(key, adapter);
    const candidates = candidatePods(this.deps.pods.byIndex("namespace", namespace), adapter.spec.podSelector);
    const byName = new Map(candidates.map((p) => [podName(p), p]));
    const artifact = await this.artifact(adapter);

    // 1. Instances the status claims: keep those whose engine still lists the adapter.
    const instances: Pod[] = [];
    const lost: Pod[] = [];
    for (const instance of adapter.status?.instances ?? []) {
      const pod = byName.get(instance);
      if (!pod) continue; // pod gone, not Ready or terminating: dropped (and replaced below)
      const held = await this.deps.engines
        .models(engineAddress(pod, this.settings.useSidecar), artifact.additionalConfig?.["api-key"])
        .then((m) => m.has(name))
        .catch(() => false);
      (held ? instances : lost).push(pod);
    }

    // 2. Pods that should hold it and do not yet.
    const oneReplica = adapter.spec.replicas === 1;
    const desired = oneReplica ? Math.min(1, candidates.length) : candidates.length;
    const holding = new Set(instances.map(podName));
    const targets = oneReplica
      ? instances.length > 0
        ? []
        : await this.placeOne(key, adapter, candidates, lost, attempts, now)
      : candidates.filter((p) => !holding.has(podName(p)));

    // 3. Load where the backoff allows.
    const due = targets.filter(
      (p) => (attempts.get(podName(p))?.nextAt ?? 0) <= now && !attempts.get(podName(p))?.permanent,
    );
    for (const pod of await this.loadAll(adapter, artifact, due, attempts, now)) instances.push(pod);

    // 4. Publish: Service, EndpointSlice, status.
    const loadedNames = new Set(instances.map(podName));
    for (const p of loadedNames) attempts.delete(p);
    const port = instances[0] ? engineAddress(instances[0], false).port : 8000;
    const service = desiredService(adapter, port);
    await this.deps.writer.ensureService(this.deps.services.get(key), service);
    const slice = desiredEndpointSlice(
      adapter,
      port,
      instances.map((p) => ({ pod: podName(p), ip: p.status?.podIP ?? "", uid: p.metadata?.uid })),
    );
    await this.deps.writer.ensureEndpointSlice(this.deps.endpointSlices.get(key), slice);
    const status = this.status(adapter, { candidates, instances, desired, targets, attempts, now });
    if (!sameStatus(adapter.status, status)) await this.deps.writer.patchStatus(adapter, status);

    // 5. Come back for the next verification, or sooner for a retry that falls due.
    const retries = targets
      .map((p) => attempts.get(podName(p)))
      .filter((a): a is Attempt => a !== undefined && !a.permanent)
      .map((a) => a.nextAt - now);
    return { requeueAfterMs: Math.max(100, Math.min(this.settings.resyncMs, ...retries)) };
  }

  /** For `replicas: 1`: a pod that lost the adapter first (reload in place), else one chosen by the policy. */
  private async placeOne(
    key: string,
    adapter: ModelAdapterObject,
    candidates: Pod[],
    lost: Pod[],
    attempts: Map<string, Attempt>,
    now: number,
  ): Promise<Pod[]> {
    if (lost[0]) return [lost[0]];
    // Where this process placed it before: its status write may not have reached the cache yet.
    const placed = this.placements.get(key);
    const sticky = placed && candidates.find((p) => podName(p) === placed.pod);
    if (sticky) return [sticky];
    const waiting = candidates.find((p) => {
      const a = attempts.get(podName(p));
      return a && !a.permanent;
    });
    if (waiting) return [waiting]; // keep retrying where we started rather than hopping between pods
    // An engine that already holds it (loaded by a controller that died before writing status) keeps it.
    const name = adapter.metadata?.name ?? "";
    const apiKey = adapter.spec.additionalConfig?.["api-key"];
    const held = await Promise.all(
      candidates.map((p) =>
        this.deps.engines
          .models(engineAddress(p, this.settings.useSidecar), apiKey)
          .then((m) => m.has(name))
          .catch(() => false),
      ),
    );
    const holder = candidates.find((_, i) => held[i]);
    if (holder) return [holder];
    const eligible = candidates.filter((p) => {
      const since = readySince(p) ?? Infinity;
      return now - since >= this.settings.minReadyMs && !attempts.get(podName(p))?.permanent;
    });
    const policy = placementPolicy(adapter.spec.schedulerName) ?? "leastAdapters";
    const counts = this.adaptersPerPod(adapter.metadata?.namespace ?? "");
    const needsStats = policy === "binPack" || policy === "leastLatency";
    const loads: PodLoad[] = await Promise.all(
      eligible.map(async (p) => ({
        name: podName(p),
        adapters: counts.get(podName(p)) ?? 0,
        ...(needsStats ? await this.deps.podStats?.(p) : undefined),
      })),
    );
    const chosen = choosePod(loads, policy, this.deps.random);
    if (!chosen) return [];
    this.placements.set(key, { namespace: adapter.metadata?.namespace ?? "", pod: chosen.name });
    return eligible.filter((p) => podName(p) === chosen.name);
  }

  private adaptersPerPod(namespace: string): Map<string, number> {
    const counts = new Map<string, number>();
    const add = (pod: string) => counts.set(pod, (counts.get(pod) ?? 0) + 1);
    for (const a of this.deps.adapters.byIndex("namespace", namespace))
      for (const pod of a.status?.instances ?? []) add(pod);
    for (const [key, placed] of this.placements) {
      if (placed.namespace !== namespace) continue;
      const listed = this.deps.adapters.get(key)?.status?.instances ?? [];
      if (listed.includes(placed.pod))
        this.placements.delete(key); // the status caught up: counted above
      else add(placed.pod);
    }
    return counts;
  }

  private async artifact(adapter: ModelAdapterObject): Promise<AdapterArtifact> {
    const artifact: AdapterArtifact = {
      name: adapter.metadata?.name ?? "",
      artifactURL: adapter.spec.artifactURL,
      additionalConfig: adapter.spec.additionalConfig,
    };
    const secret = adapter.spec.credentialsSecretRef?.name;
    if (secret && this.settings.useSidecar) {
      artifact.credentials = await this.deps.writer.readSecret(adapter.metadata?.namespace ?? "", secret);
    }
    return artifact;
  }

  private async loadAll(
    adapter: ModelAdapterObject,
    artifact: AdapterArtifact,
    pods: Pod[],
    attempts: Map<string, Attempt>,
    now: number,
  ): Promise<Pod[]> {
    const loaded: Pod[] = [];
    const queue = [...pods];
    const worker = async () => {
      for (let pod = queue.shift(); pod; pod = queue.shift()) {
        const address = engineAddress(pod, this.settings.useSidecar);
        try {
          const called = await this.deps.engines.ensureLoaded(address, artifact);
          loaded.push(pod);
          if (called) {
            this.deps.recorder.record(
              adapter,
              "Normal",
              "Loaded",
              "Load",
              `loaded on pod ${podName(pod)} (${address.host}:${address.sidecarPort ?? address.port})`,
            );
          }
        } catch (err) {
          this.recordFailure(adapter, pod, err, attempts, now);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.settings.loadConcurrency, pods.length) }, worker));
    return loaded;
  }

  private recordFailure(
    adapter: ModelAdapterObject,
    pod: Pod,
    err: unknown,
    attempts: Map<string, Attempt>,
    now: number,
  ) {
    const permanent = err instanceof AdapterLoadError ? err.permanent : false;
    const message = err instanceof Error ? err.message : String(err);
    const previous = attempts.get(podName(pod));
    const failures = (previous?.failures ?? 0) + 1;
    const { base, max } = this.settings.backoffMs;
    const wait = Math.min(max, base * 2 ** (failures - 1));
    attempts.set(podName(pod), { failures, nextAt: now + wait, message, permanent });
    const next = permanent ? "not retried until the spec changes" : `retry in ${Math.round(wait / 1000)} s`;
    this.deps.recorder.record(adapter, "Warning", "LoadFailed", "Load", `pod ${podName(pod)}: ${message} (${next})`);
  }

  private status(
    adapter: ModelAdapterObject,
    s: {
      candidates: Pod[];
      instances: Pod[];
      desired: number;
      targets: Pod[];
      attempts: Map<string, Attempt>;
      now: number;
    },
  ): Status {
    const at = new Date(s.now);
    const failures = [...s.attempts.entries()].filter(([pod]) => s.targets.some((t) => podName(t) === pod));
    const failureText = failures.map(([pod, a]) => `pod ${pod}: ${a.message}`).join("; ");
    let conditions: Condition[] = adapter.status?.conditions ?? [];
    conditions = setCondition(
      conditions,
      { type: "Initialized", status: "True", reason: "Initialized", message: "the controller has seen this adapter" },
      at,
    );
    let phase: Status["phase"];
    if (s.candidates.length === 0) {
      phase = "Pending";
      const message = `no Ready, running pod in namespace ${adapter.metadata?.namespace} matches spec.podSelector; the adapter loads when one does`;
      conditions = setCondition(
        conditions,
        { type: "Scheduled", status: "False", reason: "NoCandidatePods", message },
        at,
      );
      conditions = setCondition(conditions, { type: READY, status: "False", reason: "NoCandidatePods", message }, at);
    } else {
      conditions = setCondition(
        conditions,
        { type: "Scheduled", status: "True", reason: "Scheduled", message: `${s.candidates.length} candidate pod(s)` },
        at,
      );
      if (s.instances.length > 0) {
        phase = "Running";
        const partial =
          s.instances.length < s.desired
            ? `; not yet on ${s.desired - s.instances.length}: ${failureText || "loading"}`
            : "";
        conditions = setCondition(
          conditions,
          {
            type: READY,
            status: "True",
            reason: REASON_AVAILABLE,
            message: `loaded on ${s.instances.length}/${s.desired} pod(s)${partial}`,
          },
          at,
        );
      } else {
        const allPermanent = failures.length > 0 && failures.every(([, a]) => a.permanent);
        phase = allPermanent ? "Failed" : "Scheduled";
        conditions = setCondition(
          conditions,
          { type: READY, status: "False", reason: REASON_LOADING_ERROR, message: failureText || "loading" },
          at,
        );
      }
    }
    return {
      phase,
      conditions,
      instances: s.instances.map(podName).sort(),
      candidates: s.candidates.length,
      desiredReplicas: s.desired,
      readyReplicas: s.instances.length,
    };
  }

  /** On delete: unload from every instance (best effort: a pod already gone holds nothing), then let it go. */
  private async finalize(key: string, adapter: ModelAdapterObject): Promise<void> {
    if (!hasFinalizer(adapter, Adapter.finalizer)) return;
    const name = adapter.metadata?.name ?? "";
    const apiKey = adapter.spec.additionalConfig?.["api-key"];
    const ns = adapter.metadata?.namespace ?? "";
    await Promise.all(
      (adapter.status?.instances ?? []).map(async (instance) => {
        const pod = this.deps.pods.get(`${ns}/${instance}`);
        if (!pod?.status?.podIP) return;
        try {
          await this.deps.engines.unload(engineAddress(pod, this.settings.useSidecar), name, apiKey);
          this.deps.recorder.record(adapter, "Normal", "Unloaded", "Unload", `unloaded from pod ${instance}`);
        } catch (err) {
          this.deps.recorder.record(
            adapter,
            "Warning",
            "UnloadFailed",
            "Unload",
            `pod ${instance}: ${(err as Error).message}; removing the finalizer anyway`,
          );
        }
      }),
    );
    await this.deps.writer.removeFinalizer(adapter);
    this.attempts.delete(key);
    this.placements.delete(key);
  }
}

/** Equal apart from condition timestamps (which setCondition keeps when nothing changed). */
function sameStatus(a: Status | undefined, b: Status): boolean {
  return JSON.stringify(normalise(a)) === JSON.stringify(normalise(b));
}

function normalise(s: Status | undefined): unknown {
  if (!s) return undefined;
  const conditions = [...(s.conditions ?? [])]
    .map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message }))
    .sort((x, y) => x.type.localeCompare(y.type));
  return [s.phase, conditions, [...(s.instances ?? [])].sort(), s.candidates, s.desiredReplicas, s.readyReplicas];
}
