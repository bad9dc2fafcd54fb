// The optimizer's loop: every interval, read the profiles, the model Deployments and free GPUs, the new workload
// signal; then, per model, slide its window and solve its plan. Upstream's monitor semantics: every Deployment with
// `model.aibrix.ai/name` is monitored once seen; DELETE /monitor stops one until POST /monitor starts it again.
import { readFile } from "node:fs/promises";
import { parseProfiles, PROFILES_CONFIGMAP_KEYS, type ProfileSet } from "../api/gpu-profile.js";
import {
  RECOMMENDATIONS_CONFIGMAP_KEY,
  type GpuMixRecommendation,
  type RecommendationDocument,
} from "../api/gpu-recommendation.js";
import { Model } from "../api/labels.js";
import type { KubeObject } from "../kube/objects.js";
import { isNotFound, type KubeClient } from "../kube/request.js";
import { modelDeployment, readFleet, type Deployment, type FleetSnapshot, type ModelDeployment } from "./fleet.js";
import type { OptimizerMetrics } from "./metrics.js";
import { planModel, type ModelPlan } from "./plan.js";
import type { SignalSource } from "./signal-sources.js";
import { WorkloadWindow, type WindowRates } from "./window.js";

export interface ObjectName {
  namespace: string;
  name: string;
}

export interface OptimizerSettings {
  /** Profile document: a file, a ConfigMap (keys profiles.yaml / profiles.json), or a fixed set (tests). */
  profilesFile?: string;
  profilesConfigMap?: ObjectName;
  profiles?: ProfileSet;
  /** The cluster; without it the fleet is `deployments` (fixed) and free GPUs are unlimited. */
  kube?: KubeClient;
  deployments?: ModelDeployment[];
  signal: SignalSource;
  /** Where the recommended mix is written for the scheduler extender (needs `kube`). */
  recommendationsConfigMap?: ObjectName;
  gpuTypeLabel?: string;
  intervalSeconds: number;
  windowSeconds: number;
  /**
   * Units per replica in the published `vllm:deployment_replicas` (upstream's gpu_fraction, 100): a PodAutoscaler with
   * targetValue 100 turns N back into the plan's replicas, ceil(N / 100).
   */
  metricScale: number;
  /** Slices per bucket for the MILP (see MilpInput.sliceFactor); absent = continuous shares. */
  sliceFactor?: number;
  metrics: OptimizerMetrics;
  log: (msg: string) => void;
}

export interface ModelState {
  model: string;
  window: WorkloadWindow;
  deployments: Map<string, ModelDeployment>;
  rates?: WindowRates;
  plan?: ModelPlan;
  /** The last feasible plan: what is served while the current workload has no feasible mix. */
  lastFeasible?: ModelPlan;
  /** Manual override per Deployment (upstream's /scale), replaced by the next solve. */
  overrides: Map<string, number>;
}

const keyOf = (d: { namespace: string; name: string }) => `${d.namespace}/${d.name}`;

export class OptimizerService {
  readonly models = new Map<string, ModelState>();
  /** Deployments stopped with DELETE /monitor: not picked up again until POST /monitor. */
  private readonly stopped = new Set<string>();
  private profileSet: ProfileSet | undefined;
  private fleet: FleetSnapshot | undefined;
  private publishedText = "";
  lastErrors: string[] = [];

  constructor(readonly settings: OptimizerSettings) {
    this.profileSet = settings.profiles;
  }

  get profiles(): ProfileSet {
    if (!this.profileSet) throw new Error("profiles not loaded yet");
    return this.profileSet;
  }

  /** Reads the profile document again; the previous one stays in force when it fails. */
  async loadProfiles(): Promise<void> {
    const s = this.settings;
    if (s.profilesFile) {
      this.profileSet = parseProfiles(await readFile(s.profilesFile, "utf8"), s.profilesFile);
    } else if (s.profilesConfigMap && s.kube) {
      const ref = s.profilesConfigMap;
      const cm = await s.kube.get<KubeObject & { data?: Record<string, string> }>(
        `/api/v1/namespaces/${ref.namespace}/configmaps/${ref.name}`,
      );
      const key = PROFILES_CONFIGMAP_KEYS.find((k) => cm.data?.[k] !== undefined);
      if (!key)
        throw new Error(`configmap ${ref.namespace}/${ref.name} has none of ${PROFILES_CONFIGMAP_KEYS.join(", ")}`);
      this.profileSet = parseProfiles(cm.data![key]!, `configmap ${ref.namespace}/${ref.name} key ${key}`);
    }
    if (!this.profileSet) throw new Error("no GPU profiles: give a profiles file or ConfigMap");
  }

  private monitor(d: ModelDeployment): boolean {
    let state = this.models.get(d.model);
    const created = !state;
    if (!state) {
      state = {
        model: d.model,
        window: new WorkloadWindow(this.settings.windowSeconds, this.settings.intervalSeconds),
        deployments: new Map(),
        overrides: new Map(),
      };
      this.models.set(d.model, state);
    }
    const existed = state.deployments.has(keyOf(d));
    state.deployments.set(keyOf(d), d);
    return created || !existed;
  }

  /** Finds the monitor of a Deployment, or undefined. */
  deploymentState(namespace: string, name: string): { state: ModelState; deployment: ModelDeployment } | undefined {
    const key = `${namespace}/${name}`;
    for (const state of this.models.values()) {
      const d = state.deployments.get(key);
      if (d) return { state, deployment: d };
    }
    return undefined;
  }

  private async readDeployment(namespace: string, name: string): Promise<ModelDeployment> {
    const s = this.settings;
    if (!s.kube) {
      const d = s.deployments?.find((x) => x.namespace === namespace && x.name === name);
      if (!d) throw new Error(`deployment ${namespace}/${name} not found`);
      return d;
    }
    let obj: Deployment;
    try {
      obj = await s.kube.get<Deployment>(`/apis/apps/v1/namespaces/${namespace}/deployments/${name}`);
    } catch (err) {
      if (isNotFound(err)) throw new Error(`deployment ${namespace}/${name} not found`, { cause: err });
      throw err;
    }
    const d = modelDeployment(obj, this.profiles, s.gpuTypeLabel);
    if (!d) throw new Error(`No "${Model.name}" label found for this deployment, please specify it in the deployment`);
    return d;
  }

  /** POST /monitor: true when it was not monitored before. */
  async start(namespace: string, name: string): Promise<boolean> {
    const d = await this.readDeployment(namespace, name);
    this.stopped.delete(keyOf(d));
    return this.monitor(d);
  }

  /** DELETE /monitor. */
  async stop(namespace: string, name: string): Promise<void> {
    const d = await this.readDeployment(namespace, name);
    this.stopped.add(keyOf(d));
    const state = this.models.get(d.model);
    state?.deployments.delete(keyOf(d));
    if (state && state.deployments.size === 0) this.models.delete(d.model);
  }

  private async refreshFleet(): Promise<void> {
    const s = this.settings;
    if (s.kube) this.fleet = await readFleet(s.kube, this.profiles, s.gpuTypeLabel);
    else this.fleet = { deployments: s.deployments ?? [], freeGpus: {} };
    const seen = new Set<string>();
    for (const d of this.fleet.deployments) {
      if (this.stopped.has(keyOf(d))) continue;
      seen.add(keyOf(d));
      this.monitor(d);
    }
    // Deployments gone from the cluster leave their model; a model with none left stops.
    for (const [model, state] of this.models) {
      for (const key of state.deployments.keys()) if (!seen.has(key)) state.deployments.delete(key);
      if (state.deployments.size === 0) this.models.delete(model);
    }
  }

  /** One round: profiles, fleet, signal, plans, publication. Errors are collected, never thrown. */
  async tick(now = Date.now() / 1000): Promise<void> {
    const errors: string[] = [];
    const step = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${(err as Error).message}`);
      }
    };
    await step("profiles", () => this.loadProfiles());
    if (!this.profileSet) {
      this.lastErrors = errors;
      return;
    }
    await step("fleet", () => this.refreshFleet());
    await step("workload signal", async () => {
      const points = await this.settings.signal.poll([...this.models.keys()], now);
      errors.push(...this.settings.signal.lastErrors);
      for (const [model, list] of points) for (const p of list) this.models.get(model)?.window.add(p);
    });
    for (const state of this.models.values()) await step(`model ${state.model}`, () => this.solve(state, now));
    await step("recommendations", () => this.publish(now));
    this.settings.metrics.errors(errors.length);
    for (const e of errors) this.settings.log(e);
    this.lastErrors = errors;
  }

  private async solve(state: ModelState, now: number): Promise<void> {
    const s = this.settings;
    state.rates = state.window.rates(now);
    // No signal yet: the workload is unknown, and sizing for zero would scale a serving model down.
    if (!state.window.heard) return;
    const kubeFree = s.kube && this.fleet ? this.fleet.freeGpus : undefined;
    const plan = await planModel(
      {
        model: state.model,
        deployments: [...state.deployments.values()],
        profiles: this.profiles,
        ...(kubeFree ? { freeGpus: kubeFree } : {}),
        rates: state.rates,
        ...(s.sliceFactor === undefined ? {} : { sliceFactor: s.sliceFactor }),
      },
      now,
    );
    state.plan = plan;
    state.overrides.clear();
    if (plan.feasible) state.lastFeasible = plan;
    s.metrics.observePlan(plan);
  }

  /** Replica units (1/metricScale) for GET /metrics/{ns}/{deployment}: override, plan, last feasible plan, current. */
  replicaUnits(state: ModelState, d: ModelDeployment): number {
    const key = keyOf(d);
    const override = state.overrides.get(key);
    if (override !== undefined) return override * this.settings.metricScale;
    const plan = state.plan?.feasible ? state.plan : state.lastFeasible;
    const replicas = plan?.byDeployment[key] ?? d.replicas;
    return Math.round(replicas * this.settings.metricScale);
  }

  recommendations(now: number): RecommendationDocument {
    const recs: GpuMixRecommendation[] = [];
    for (const state of this.models.values()) {
      for (const d of state.deployments.values()) {
        if (!d.gpuType) continue;
        const units = this.replicaUnits(state, d);
        recs.push({
          namespace: d.namespace,
          deployment: d.name,
          model: state.model,
          recommended: { [d.gpuType]: Math.ceil(units / this.settings.metricScale - 1e-9) },
          created: Math.floor(state.plan?.solvedAt ?? now),
        });
      }
    }
    recs.sort((a, b) => `${a.namespace}/${a.deployment}`.localeCompare(`${b.namespace}/${b.deployment}`));
    return { recommendations: recs };
  }

  /** Writes the recommendation ConfigMap when its content changed (the `created` stamps do not count as change). */
  private async publish(now: number): Promise<void> {
    const s = this.settings;
    const ref = s.recommendationsConfigMap;
    if (!ref || !s.kube) return;
    const doc = this.recommendations(now);
    const shape = JSON.stringify(doc.recommendations.map((r) => ({ ...r, created: 0 })));
    if (shape === this.publishedText) return;
    const path = `/api/v1/namespaces/${ref.namespace}/configmaps`;
    const body = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: ref.name,
        namespace: ref.namespace,
        labels: { "app.kubernetes.io/managed-by": "aibrix-ts-optimizer" },
      },
      data: { [RECOMMENDATIONS_CONFIGMAP_KEY]: JSON.stringify(doc, null, 1) },
    };
    try {
      await s.kube.patch(`${path}/${ref.name}`, body, "merge");
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await s.kube.create(path, body);
    }
    this.publishedText = shape;
  }
}
