// KubeSchedulerConfiguration documents for the loopback cluster: the default scheduler, and the GPU scheduler whose
// only profile is aibrix-gpu-scheduler and which calls our extender (extenders apply to every profile of a process,
// so the GPU profile gets a process of its own).
import { stringify } from "yaml";
import { Scheduling } from "../../api/labels.js";

export interface ExtenderOptions {
  /** e.g. http://127.0.0.1:8090/scheduler — verbs are appended as `<urlPrefix>/<verb>`. */
  urlPrefix: string;
  filterVerb?: string;
  prioritizeVerb?: string;
  /** Set to let the extender bind (it then POSTs pods/binding itself). Empty: kube-scheduler binds. */
  bindVerb?: string;
  weight?: number;
  httpTimeout?: string;
  /** Extender errors do not fail scheduling when true. */
  ignorable?: boolean;
}

export interface SchedulerConfigOptions {
  kubeconfig: string;
  schedulerName: string;
  extender?: ExtenderOptions;
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
    profiles: [{ schedulerName: opts.schedulerName }],
  };
  if (opts.extender) {
    const e = opts.extender;
    cfg.extenders = [
      {
        urlPrefix: e.urlPrefix,
        filterVerb: e.filterVerb ?? "filter",
        prioritizeVerb: e.prioritizeVerb ?? "prioritize",
        ...(e.bindVerb ? { bindVerb: e.bindVerb } : {}),
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
