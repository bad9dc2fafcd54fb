// KubeSchedulerConfiguration documents for the loopback cluster: the default scheduler, and the GPU scheduler whose
// only profile is aibrix-gpu-scheduler and which calls our extender (extenders apply to every profile of a process,
// so the GPU profile gets a process of its own).
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { Scheduling } from "../api/labels.js";

export interface ExtenderOptions {
  /** e.g. http://127.0.0.1:8090/scheduler — verbs are appended as `<urlPrefix>/<verb>`. */
  urlPrefix: string;
  filterVerb?: string;
  prioritizeVerb?: string;
  /** Set to let the extender bind (it then POSTs pods/binding itself). Empty: kube-scheduler binds. */
  bindVerb?: string;
  preemptVerb?: string;
  weight?: number;
  httpTimeout?: string;
  /** Extender errors do not fail scheduling when true. */
  ignorable?: boolean;
}

export interface SchedulerConfigOptions {
  kubeconfig: string;
  schedulerName: string;
  extender?: ExtenderOptions;
  /** Profile settings (e.g. pluginConfig) for the one profile; its schedulerName is replaced. */
  profile?: Record<string, unknown>;
  /** Client QPS/burst toward kube-apiserver (the defaults, 50/100, cap throughput far below what we measure). */
  qps?: number;
  burst?: number;
}

export function schedulerConfig(opts: SchedulerConfigOptions): Record<string, unknown> {
  const cfg: Record<string, unknown> = {
    apiVersion: "kubescheduler.config.k8s.io/v1",
    kind: "KubeSchedulerConfiguration",
    clientConnection: { kubeconfig: opts.kubeconfig, qps: opts.qps ?? 500, burst: opts.burst ?? 1000 },
    leaderElection: { leaderElect: false },
    profiles: [{ ...(opts.profile ?? {}), schedulerName: opts.schedulerName }],
  };
  if (opts.extender) {
    const e = opts.extender;
    cfg.extenders = [
      {
        urlPrefix: e.urlPrefix,
        filterVerb: e.filterVerb ?? "filter",
        prioritizeVerb: e.prioritizeVerb ?? "prioritize",
        ...(e.bindVerb ? { bindVerb: e.bindVerb } : {}),
        ...(e.preemptVerb ? { preemptVerb: e.preemptVerb } : {}),
        weight: e.weight ?? 1,
        enableHTTPS: e.urlPrefix.startsWith("https:"),
        nodeCacheCapable: true,
        httpTimeout: e.httpTimeout ?? "5s",
        ignorable: e.ignorable ?? false,
        // Only pods asking for GPUs go to the extender; kube-scheduler still counts the GPUs itself.
        managedResources: [{ name: Scheduling.gpuResource, ignoredByScheduler: false }],
      },
    ];
  }
  return cfg;
}

export function schedulerConfigYaml(opts: SchedulerConfigOptions): string {
  return stringify(schedulerConfig(opts));
}

/** The chart's reference scheduler configuration (what a real deployment of the GPU scheduler runs). */
export const CHART_SCHEDULER_CONFIG = fileURLToPath(
  new URL("../../charts/aibrix-ts/files/kube-scheduler-config.yaml", import.meta.url),
);

/**
 * The chart's reference profile for `schedulerName` (its plugin configuration), so the loopback GPU scheduler scores
 * like the deployed one. Undefined when the chart ships no reference configuration or no such profile.
 */
export function chartSchedulerProfile(
  schedulerName: string = Scheduling.gpuSchedulerName,
  file = CHART_SCHEDULER_CONFIG,
): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  const cfg = parse(readFileSync(file, "utf8")) as { profiles?: { schedulerName?: string }[] } | null;
  return cfg?.profiles?.find((p) => p.schedulerName === schedulerName);
}
