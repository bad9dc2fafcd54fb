// Publishing marks on the Node: labels and annotations the extender reads, a NoSchedule taint for fatal faults, and
// a node condition for people and alerting. The view is computed purely; the publisher is a thin client-node layer.
import * as k8s from "@kubernetes/client-node";
import { Diagnostics } from "../api/labels.js";
import type { Marks } from "./marks.js";

export interface NodeView {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The fault taint's value (the failing check), or null for no taint. */
  taint: string | null;
  condition: { status: "True" | "False"; reason: string; message: string };
}

/** Longest reason kept in an annotation or condition message; enough for a sentence, not a log. */
const MAX_REASON = 1024;
const clip = (s: string) => (s.length > MAX_REASON ? `${s.slice(0, MAX_REASON - 1)}…` : s);

/** `gpu_vram_unrecoverable_errors` → `GpuVramUnrecoverableErrors` (condition reasons are CamelCase). */
export function camelReason(check: string): string {
  return check
    .split(/[_-]/)
    .filter((p) => p !== "")
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join("");
}

export function nodeView(marks: Marks, reportTime: Date): NodeView {
  const devices = [...marks.devices.keys()].sort((a, b) => a - b);
  const health = marks.node ? "unhealthy" : "healthy";
  const reasons: Record<string, string> = {};
  for (const i of devices) reasons[String(i)] = clip(marks.devices.get(i)!.reason);
  const deviceSummary = devices.length > 0 ? `GPUs ${devices.join(",")} excluded` : "";
  const reason = marks.node ? clip(marks.node.reason) : deviceSummary;
  return {
    labels: { [Diagnostics.nodeHealthLabel]: health, [Diagnostics.failingCountLabel]: String(devices.length) },
    annotations: {
      [Diagnostics.nodeHealth]: health,
      [Diagnostics.failingDevices]: devices.join(","),
      [Diagnostics.reason]: reason,
      [Diagnostics.deviceReasons]: JSON.stringify(reasons),
      [Diagnostics.lastReport]: reportTime.toISOString(),
    },
    taint: marks.node ? marks.node.check : null,
    condition: marks.node
      ? { status: "True", reason: camelReason(marks.node.check), message: reason }
      : devices.length > 0
        ? { status: "False", reason: "SomeGpusExcluded", message: deviceSummary }
        : { status: "False", reason: "AcceleratorsHealthy", message: "all accelerator checks pass" },
  };
}

type Taint = { key: string; value?: string; effect: string; timeAdded?: string | Date };
type NodeLike = { metadata?: { resourceVersion?: string }; spec?: { taints?: Taint[] } };

/**
 * The JSON merge patch that puts the view on the node: our labels and annotations, and the node's taints with ours
 * set or removed (others untouched). The resourceVersion makes a concurrent taint change a conflict, not a loss.
 */
export function metadataPatch(node: NodeLike, view: NodeView, now: Date): object {
  const others = (node.spec?.taints ?? []).filter((t) => t.key !== Diagnostics.faultTaint);
  const ours = (node.spec?.taints ?? []).find((t) => t.key === Diagnostics.faultTaint);
  const taints: Taint[] = [...others];
  if (view.taint !== null) {
    const kept = ours && ours.value === view.taint && ours.effect === "NoSchedule";
    taints.push(
      kept
        ? ours
        : { key: Diagnostics.faultTaint, value: view.taint, effect: "NoSchedule", timeAdded: now.toISOString() },
    );
  }
  return {
    metadata: { resourceVersion: node.metadata?.resourceVersion, labels: view.labels, annotations: view.annotations },
    spec: { taints },
  };
}

export function conditionPatch(view: NodeView, transitioned: boolean, now: Date): object {
  const t = now.toISOString();
  return {
    status: {
      conditions: [
        {
          type: Diagnostics.condition,
          status: view.condition.status,
          reason: view.condition.reason,
          message: view.condition.message,
          lastHeartbeatTime: t,
          ...(transitioned ? { lastTransitionTime: t } : {}),
        },
      ],
    },
  };
}

export interface NodePublisher {
  publish(view: NodeView, now: Date): Promise<void>;
}

/** Patches one node through the API server; needs `nodes` get/patch and `nodes/status` patch, nothing else. */
export class KubeNodePublisher implements NodePublisher {
  private readonly core: k8s.CoreV1Api;

  constructor(
    kc: k8s.KubeConfig,
    private readonly nodeName: string,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async publish(view: NodeView, now: Date): Promise<void> {
    const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
    let before: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const node = await this.core.readNode({ name: this.nodeName });
      before = node.status?.conditions?.find((c) => c.type === Diagnostics.condition)?.status;
      try {
        await this.core.patchNode({ name: this.nodeName, body: metadataPatch(node, view, now) }, merge);
        break;
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt >= 4) throw err;
      }
    }
    const strategic = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch);
    const transitioned = before !== view.condition.status;
    await this.core.patchNodeStatus({ name: this.nodeName, body: conditionPatch(view, transitioned, now) }, strategic);
  }
}
