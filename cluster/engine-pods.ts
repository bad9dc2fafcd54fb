// Pods that behave like engine pods: for every running pod labelled `model.aibrix.ai/name`, an in-process vLLM
// simulator listens on the pod's IP and port, configured from the pod's vLLM command line and its node's GPU. A
// start-up delay stands for image pull and weight loading: the pod's Ready condition is held False until the engine
// listens, as a readiness probe would. The engine stops when the pod goes away. Level-triggered: one reconcile per
// pod key on the shared informers of kube/, so missed events and restarts of this launcher converge.
import { setTimeout as sleep } from "node:timers/promises";
import { Model, Scheduling } from "../api/labels.js";
import { loadKubeConfig } from "../kube/client.js";
import { Controller, type ReconcileResult } from "../kube/controller.js";
import { Informers } from "../kube/informers.js";
import { objectKey, type KubeObject } from "../kube/objects.js";
import { KubeClient, isConflict, isNotFound } from "../kube/request.js";
import { Resources, scoped } from "../kube/resources.js";
import { startSimulator, type RunningSimulator, type SimulatorOptions } from "../simulator/index.js";
import { engineContainer, engineSettings, type EngineSettings, type PodLike } from "./engine-settings.js";

export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastProbeTime?: string | null;
}

export interface ContainerStatus {
  name: string;
  ready?: boolean;
  started?: boolean;
  restartCount?: number;
  [field: string]: unknown;
}

export interface Pod extends KubeObject, PodLike {
  metadata: NonNullable<KubeObject["metadata"]> & NonNullable<PodLike["metadata"]>;
  spec?: PodLike["spec"];
  status?: { phase?: string; podIP?: string; conditions?: PodCondition[]; containerStatuses?: ContainerStatus[] };
}

interface Node extends KubeObject {
  metadata: NonNullable<KubeObject["metadata"]>;
}

export type EngineState = "starting" | "running" | "failed";

/** One pod's engine, as the launcher sees it. */
export interface EngineInfo {
  podKey: string;
  podUid: string;
  nodeName: string;
  ip: string;
  port: number;
  /** `http://<pod IP>:<port>`. */
  url: string;
  settings?: EngineSettings;
  state: EngineState;
  /** Why the engine failed, or the last error starting it. */
  error?: string;
  /** Times the engine has started listening (1 after the first start, +1 per restart). */
  starts: number;
  /** When the engine listens (or listened), epoch ms. */
  listenAt: number;
  /** The in-process simulator, when the engine is one (the default). */
  simulator?: RunningSimulator;
}

/** Where a pod's engine must listen, and how the pod asks it to run. */
export interface EngineTarget {
  /** The pod as last seen (its containers say, e.g., whether a runtime sidecar runs beside the engine). */
  pod: Pod;
  podKey: string;
  host: string;
  port: number;
  settings: EngineSettings;
}

/** Starts a pod's engine; resolves once it serves. */
export type EngineStarter = (target: EngineTarget) => Promise<{ close(): Promise<void> }>;

interface EngineRecord extends EngineInfo {
  restart?: { startupDelayMs: number };
  /** The running engine, whatever starts it. */
  running?: { close(): Promise<void> };
}

export interface EnginePodsOptions {
  /** Kubeconfig file of the cluster (default: the usual rules of kube/client.ts). */
  kubeconfig?: string;
  /** Informers to share with other controllers in this process (they are then neither started nor stopped here). */
  informers?: Informers;
  /** Only pods of this namespace (default: all). */
  namespace?: string;
  /** Time from the pod running to the engine listening: image pull and weight loading (default 0). */
  startupDelayMs?: number | ((pod: Pod) => number);
  /** Hold the pod's Ready condition False until its engine listens (default true). */
  manageReadiness?: boolean;
  /** Simulated time runs this many times faster than real time (default 1). */
  speedup?: number;
  /** Further simulator settings for every engine (e.g. loraApiLoadMs); the pod's own settings win. */
  simulator?: Partial<SimulatorOptions>;
  /**
   * Runs something other than the simulator as each pod's engine (a real vLLM, say); `speedup` and `simulator` then
   * do not apply.
   */
  startEngine?: EngineStarter;
  /** Concurrent reconciles of different pods (default 8). */
  workers?: number;
  log?: (line: string) => void;
}

export interface EnginePods {
  /** Engines by pod key (`namespace/name`). */
  readonly engines: ReadonlyMap<string, EngineInfo>;
  /** Resolves when the informers have listed once. */
  readonly synced: Promise<void>;
  /**
   * Closes the pod's engine and starts it again, as a container restart does: adapters loaded at run time are gone,
   * the pod is not Ready while it starts, and its container's restartCount goes up. Resolves once it listens again.
   */
  restartEngine(podKey: string, opts?: { startupDelayMs?: number; timeoutMs?: number }): Promise<EngineInfo>;
  /** The pod's engine once it is in `state` (default running). */
  waitForEngine(podKey: string, opts?: { state?: EngineState; timeoutMs?: number }): Promise<EngineInfo>;
  /** Running engines matching `filter`, once there are at least `count`. */
  waitForEngines(
    count: number,
    opts?: { timeoutMs?: number; filter?: (e: EngineInfo) => boolean },
  ): Promise<EngineInfo[]>;
  /** Stops every engine and the watches. */
  stop(): Promise<void>;
}

/** A pod its kubelet would be running: bound, Running, with an IP, not being deleted. */
function runnable(pod: Pod | undefined): pod is Pod {
  return Boolean(
    pod && !pod.metadata.deletionTimestamp && pod.spec?.nodeName && pod.status?.phase === "Running" && pod.status.podIP,
  );
}

/**
 * The pod's status with Ready/ContainersReady set to `ready` and the engine container's ready flag and restart
 * count, as the kubelet reports them; undefined when the pod already says so.
 */
export function readinessStatus(pod: Pod, ready: boolean, restartCount: number, now = new Date().toISOString()) {
  const containerName = engineContainer(pod)?.name;
  const want = ready ? "True" : "False";
  const conditions = (pod.status?.conditions ?? []).map((c) => {
    if ((c.type !== "Ready" && c.type !== "ContainersReady") || c.status === want) return c;
    const { reason: _r, message: _m, ...rest } = c;
    return ready
      ? { ...rest, status: want, lastTransitionTime: now }
      : {
          ...rest,
          status: want,
          lastTransitionTime: now,
          reason: "ContainersNotReady",
          message: `containers with unready status: [${containerName ?? ""}]`,
        };
  });
  let changed = conditions.some((c, i) => c !== pod.status?.conditions?.[i]);
  const containerStatuses = (pod.status?.containerStatuses ?? []).map((s) => {
    if (s.name !== containerName || (s.ready === ready && (s.restartCount ?? 0) === restartCount)) return s;
    changed = true;
    return { ...s, ready, started: ready, restartCount };
  });
  return changed ? { conditions, containerStatuses } : undefined;
}

class Launcher implements EnginePods {
  readonly records = new Map<string, EngineRecord>();
  readonly synced: Promise<void>;
  private readonly informers: Informers;
  private readonly ownInformers: boolean;
  private readonly client: KubeClient;
  private readonly pods;
  private readonly nodes;
  private readonly controller: Controller;
  private readonly log: (line: string) => void;
  private stopped = false;

  constructor(private readonly options: EnginePodsOptions) {
    this.log = options.log ?? (() => {});
    this.ownInformers = !options.informers;
    this.client = options.informers?.client ?? new KubeClient(loadKubeConfig(options.kubeconfig));
    this.informers = options.informers ?? new Informers(this.client);
    const podRef = scoped(Resources.pods, { namespace: options.namespace, labelSelector: Model.name });
    this.pods = this.informers.for<Pod>(podRef);
    this.nodes = this.informers.for<Node>(Resources.nodes);
    this.pods.addIndexers({ node: (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []) });
    this.controller = new Controller({
      name: "engine-pods",
      for: this.pods,
      // A node that appears (or changes GPU) after its pods matters to their engines' calibrations.
      watches: [
        { informer: this.nodes, map: (n) => this.pods.store.byIndex("node", n.metadata?.name ?? "").map(objectKey) },
      ],
      reconcile: (key) => this.reconcile(key),
      workers: options.workers ?? 8,
      backoffMs: { base: 500, max: 30_000 },
      onError: (key, err) => this.log(`engine ${key}: ${err.message}`),
    });
    this.synced = Promise.all([this.pods.synced, this.nodes.synced]).then(() => undefined);
  }

  get engines(): ReadonlyMap<string, EngineInfo> {
    return this.records;
  }

  async start(): Promise<void> {
    if (this.ownInformers) this.informers.start();
    await this.controller.start();
  }

  private delayFor(pod: Pod): number {
    const d = this.options.startupDelayMs ?? 0;
    return typeof d === "function" ? d(pod) : d;
  }

  private async reconcile(key: string): Promise<ReconcileResult | void> {
    if (this.stopped) return;
    const pod = this.pods.store.get(key);
    let rec = this.records.get(key);
    if (!runnable(pod)) {
      if (rec) await this.remove(key, rec, pod ? "pod is terminating" : "pod deleted");
      return;
    }
    if (rec && (rec.podUid !== pod.metadata.uid || rec.ip !== pod.status?.podIP)) {
      await this.remove(key, rec, "pod replaced");
      rec = undefined;
    }
    rec ??= await this.admit(key, pod);
    if (rec.restart) {
      await rec.running?.close();
      rec.running = undefined;
      rec.simulator = undefined;
      rec.state = "starting";
      rec.listenAt = Date.now() + rec.restart.startupDelayMs;
      rec.restart = undefined;
      this.log(`engine ${key}: restarting`);
    }
    if (rec.state === "starting") {
      await this.writeReadiness(pod, rec, false);
      const wait = rec.listenAt - Date.now();
      if (wait > 0) return { requeueAfterMs: wait };
      await this.listen(key, pod, rec);
    }
    await this.writeReadiness(pod, rec, rec.state === "running");
  }

  /** A new engine record for a pod seen running: its settings, or why it cannot run. */
  private async admit(key: string, pod: Pod): Promise<EngineRecord> {
    const nodeName = pod.spec?.nodeName as string;
    const ip = pod.status?.podIP as string;
    const node =
      this.nodes.store.get(nodeName) ??
      (await this.client.get<Node>(`/api/v1/nodes/${nodeName}`).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      }));
    const rec: EngineRecord = {
      podKey: key,
      podUid: pod.metadata.uid ?? "",
      nodeName,
      ip,
      port: 0,
      url: "",
      state: "starting",
      starts: 0,
      listenAt: Date.now() + this.delayFor(pod),
    };
    try {
      rec.settings = engineSettings(pod, node?.metadata.labels?.[Scheduling.gpuProductLabel]);
      rec.port = rec.settings.port;
      rec.url = `http://${ip.includes(":") ? `[${ip}]` : ip}:${rec.port}`;
      const s = rec.settings;
      this.log(
        `engine ${key}: ${s.model} on ${rec.url}, calibration ${s.calibration} (${s.calibrationReason}), ` +
          `max-loras ${s.maxLoras ?? "calibration default"}, listening in ${Math.max(0, rec.listenAt - Date.now())} ms`,
      );
    } catch (err) {
      rec.state = "failed";
      rec.error = err instanceof Error ? err.message : String(err);
      this.log(`engine ${key}: cannot run: ${rec.error}`);
    }
    this.records.set(key, rec);
    return rec;
  }

  private async listen(key: string, pod: Pod, rec: EngineRecord): Promise<void> {
    const s = rec.settings as EngineSettings;
    try {
      const started = await this.startEngine(pod, key, rec.ip, s);
      rec.running = started.running;
      rec.simulator = started.simulator;
    } catch (err) {
      const code = (err as { code?: string }).code;
      const holder = [...this.records.values()].find((r) => r !== rec && r.ip === rec.ip && r.port === s.port);
      rec.error =
        code === "EADDRNOTAVAIL"
          ? `cannot listen on ${rec.ip}: the pod range is not local here (run under scripts/netns.sh, or give the ` +
            `cluster a 127.x pod range)`
          : code === "EADDRINUSE"
            ? `cannot listen on ${rec.ip}:${s.port}: in use by ` +
              (holder
                ? `${holder.podKey}'s engine, which had the address before; retrying until it stops`
                : `a process outside this launcher (another cluster's engine on the same pod range?); retrying`)
            : `cannot listen on ${rec.ip}:${s.port}: ${err instanceof Error ? err.message : String(err)}`;
      throw new Error(rec.error, { cause: err });
    }
    if (this.stopped || this.records.get(key) !== rec) {
      await rec.running.close();
      return;
    }
    rec.state = "running";
    rec.error = undefined;
    rec.starts++;
    rec.listenAt = Date.now();
    this.log(`engine ${key}: listening on ${rec.url}`);
  }

  private async startEngine(
    pod: Pod,
    podKey: string,
    host: string,
    s: EngineSettings,
  ): Promise<{ running: { close(): Promise<void> }; simulator?: RunningSimulator }> {
    if (this.options.startEngine) {
      return { running: await this.options.startEngine({ pod, podKey, host, port: s.port, settings: s }) };
    }
    const simulator = await startSimulator({
      speedup: this.options.speedup,
      ...this.options.simulator,
      host,
      port: s.port,
      model: s.model,
      calibration: s.calibration,
      adapters: s.adapters,
      ...(s.maxLoras !== undefined ? { maxLoras: s.maxLoras } : {}),
      ...(s.maxModelLen !== undefined ? { maxModelLen: s.maxModelLen } : {}),
      ...(s.maxNumSeqs !== undefined ? { maxNumSeqs: s.maxNumSeqs } : {}),
      ...(s.maxNumBatchedTokens !== undefined ? { maxNumBatchedTokens: s.maxNumBatchedTokens } : {}),
      ...(s.blockSize !== undefined ? { blockSize: s.blockSize } : {}),
    });
    return { running: simulator, simulator };
  }

  private async remove(key: string, rec: EngineRecord, why: string): Promise<void> {
    this.records.delete(key);
    await rec.running?.close();
    if (rec.running) this.log(`engine ${key}: stopped (${why})`);
  }

  /** Brings the pod's Ready condition to `ready` through /status (read again and retried on conflict). */
  private async writeReadiness(cached: Pod, rec: EngineRecord, ready: boolean): Promise<void> {
    if (this.options.manageReadiness === false) return;
    const path = `/api/v1/namespaces/${cached.metadata.namespace}/pods/${cached.metadata.name}/status`;
    const restarts = Math.max(0, rec.starts - 1) + (rec.state === "starting" && rec.starts > 0 ? 1 : 0);
    let pod = cached;
    for (let attempt = 1; ; attempt++) {
      if (pod.metadata.uid !== rec.podUid || !runnable(pod)) return;
      const status = readinessStatus(pod, ready, restarts);
      if (!status) return;
      try {
        await this.client.patch(path, { metadata: { resourceVersion: pod.metadata.resourceVersion }, status });
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt >= 5) throw err;
        pod = await this.client.get<Pod>(path);
      }
    }
  }

  async restartEngine(podKey: string, opts: { startupDelayMs?: number; timeoutMs?: number } = {}) {
    const rec = this.records.get(podKey);
    if (!rec || rec.state !== "running") {
      throw new Error(`restartEngine ${podKey}: no running engine (state ${rec?.state ?? "none"})`);
    }
    const before = rec.starts;
    rec.restart = { startupDelayMs: opts.startupDelayMs ?? 0 };
    this.controller.queue.add(podKey);
    const timeoutMs = opts.timeoutMs ?? 30_000 + (opts.startupDelayMs ?? 0);
    return await this.until(`engine ${podKey} restarted`, timeoutMs, () =>
      this.records.get(podKey) === rec && rec.state === "running" && rec.starts > before ? rec : undefined,
    );
  }

  async waitForEngine(podKey: string, opts: { state?: EngineState; timeoutMs?: number } = {}) {
    const state = opts.state ?? "running";
    return await this.until(`engine ${podKey} ${state}`, opts.timeoutMs ?? 30_000, () => {
      const rec = this.records.get(podKey);
      return rec?.state === state ? rec : undefined;
    });
  }

  async waitForEngines(count: number, opts: { timeoutMs?: number; filter?: (e: EngineInfo) => boolean } = {}) {
    return await this.until(`${count} running engines`, opts.timeoutMs ?? 30_000, () => {
      const running = [...this.records.values()].filter((e) => e.state === "running" && (opts.filter?.(e) ?? true));
      return running.length >= count ? running : undefined;
    });
  }

  private async until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (this.stopped) throw new Error(`${what}: the engine launcher was stopped`);
      if (Date.now() > deadline) {
        const states = [...this.records.values()].map((e) => `${e.podKey}=${e.state}${e.error ? ` (${e.error})` : ""}`);
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; engines: ${states.join(", ") || "none"}`);
      }
      await sleep(25);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.controller.stop();
    if (this.ownInformers) {
      await this.informers.stop();
      this.client.close();
    }
    await Promise.all([...this.records.values()].map((r) => r.running?.close()));
    this.records.clear();
  }
}

/** Starts the engine-pod launcher; resolves once its watches have listed and it reconciles. */
export async function startEnginePods(options: EnginePodsOptions = {}): Promise<EnginePods> {
  const launcher = new Launcher(options);
  try {
    await launcher.start();
  } catch (err) {
    await launcher.stop();
    throw err;
  }
  return launcher;
}
