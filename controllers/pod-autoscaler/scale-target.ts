// Any object with a /scale subresource — Deployment, StatefulSet, RayClusterFleet, a custom resource: the
// scaleTargetRef's kind is looked up in the API's discovery (cached per group version), so no kind is special.
import type { PodAutoscaler } from "./decide.js";

export interface Scale {
  /** Replicas the target asks for. */
  replicas: number;
  /** Replicas it has. */
  statusReplicas: number;
  /** Its pods' label selector, as a string; empty when the target does not publish one. */
  selector: string;
}

export interface ScaleApi {
  get<T>(path: string): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
}

interface ApiResourceList {
  resources?: { name: string; kind: string; namespaced: boolean }[];
}

/** apiVersion a kind is found under when scaleTargetRef leaves it out. */
const DEFAULT_API_VERSION: Record<string, string> = {
  Deployment: "apps/v1",
  StatefulSet: "apps/v1",
  ReplicaSet: "apps/v1",
  RayClusterFleet: "orchestration.aibrix.ai/v1alpha1",
  StormService: "orchestration.aibrix.ai/v1alpha1",
};

export class ScaleTargetError extends Error {}

export class ScaleTargets {
  private readonly discovery = new Map<string, { at: number; list: Promise<ApiResourceList> }>();

  constructor(
    private readonly api: ScaleApi,
    private readonly discoveryTtlMs = 60_000,
  ) {}

  private resources(apiVersion: string): Promise<ApiResourceList> {
    const hit = this.discovery.get(apiVersion);
    if (hit && Date.now() - hit.at < this.discoveryTtlMs) return hit.list;
    const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = this.api.get<ApiResourceList>(path);
    list.catch(() => this.discovery.delete(apiVersion));
    this.discovery.set(apiVersion, { at: Date.now(), list });
    return list;
  }

  /** The target's /scale path; a kind without one is an error that says so. */
  async scalePath(pa: PodAutoscaler): Promise<string> {
    const ref = pa.spec.scaleTargetRef;
    const apiVersion = ref.apiVersion ?? DEFAULT_API_VERSION[ref.kind ?? ""] ?? "apps/v1";
    const list = await this.resources(apiVersion);
    const resource = list.resources?.find((r) => r.kind === ref.kind && !r.name.includes("/"));
    if (!resource) throw new ScaleTargetError(`the API serves no kind ${ref.kind} in ${apiVersion}`);
    if (!list.resources?.some((r) => r.name === `${resource.name}/scale`)) {
      throw new ScaleTargetError(`${ref.kind} (${apiVersion}) has no scale subresource`);
    }
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const ns = resource.namespaced ? `/namespaces/${encodeURIComponent(pa.metadata?.namespace ?? "")}` : "";
    return `${base}${ns}/${resource.name}/${encodeURIComponent(ref.name ?? "")}/scale`;
  }

  async get(pa: PodAutoscaler): Promise<Scale> {
    const scale = await this.api.get<{
      spec?: { replicas?: number };
      status?: { replicas?: number; selector?: string };
    }>(await this.scalePath(pa));
    return {
      replicas: scale.spec?.replicas ?? 0,
      statusReplicas: scale.status?.replicas ?? 0,
      selector: scale.status?.selector ?? "",
    };
  }

  async setReplicas(pa: PodAutoscaler, replicas: number): Promise<void> {
    await this.api.patch(await this.scalePath(pa), { spec: { replicas } });
  }
}
