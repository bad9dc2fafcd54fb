// Per-node placement facts, computed once when a node or one of its pods changes, so that filter and prioritize are
// a lookup and a few comparisons per node.
import { Diagnostics, Scheduling } from "../api/labels.js";
import { parseDeviceList } from "./pod.js";
import type { NodeObject } from "./wire.js";

export type Health = "ok" | "unhealthy" | "unreported";

export interface NodeReadOptions {
  gpuResource: string;
  /** Label checked before `nvidia.com/gpu.product` for the GPU type, e.g. a fleet's own `gpu-type` label. */
  gpuTypeLabel?: string | undefined;
}

/** A bound or reserved pod's claim on a node's GPUs. */
export interface GpuClaim {
  gpus: number;
  /** Device indices pinned at bind time; undefined = counted but not pinned (bound by another binder). */
  devices: readonly number[] | undefined;
}

export class NodeRecord {
  readonly name: string;
  /** The name as a JSON string literal, so responses are assembled without re-escaping thousands of names. */
  readonly jsonName: string;
  /** `{"Host":<name>,"Score":` — a HostPriority entry up to its score. */
  readonly hostPriorityPrefix: string;
  readonly resourceVersion: string | undefined;
  /** Raw GPU type label value; the profile document maps it to a type name. */
  readonly gpuLabel: string | undefined;
  /** Small integer standing for `gpuLabel`, assigned by the state, so per-request type lookups index an array. */
  labelId = -1;
  /** Allocatable GPUs. */
  readonly capacity: number;
  readonly health: Health;
  /** Why the node is unhealthy, as diagnostics said it. */
  readonly healthReason: string;
  /** Time of the last diagnostics report, ms since epoch; NaN when absent or unreadable. */
  readonly lastReportMs: number;
  /** Failing device indices from diagnostics (within capacity). */
  readonly failing: Uint8Array;
  readonly failingList: readonly number[];
  /** Pod UID owning each device, or undefined. */
  readonly owners: (string | undefined)[];
  /** GPUs used by pods that carry no usable device pin. */
  unpinned = 0;
  healthyCapacity: number;
  /** Healthy GPUs neither pinned nor counted as used: what a new pod can have. */
  healthyFree: number;

  constructor(node: NodeObject, opts: NodeReadOptions) {
    const md = node.metadata ?? {};
    this.name = md.name ?? "";
    this.jsonName = JSON.stringify(this.name);
    this.hostPriorityPrefix = `{"Host":${this.jsonName},"Score":`;
    this.resourceVersion = md.resourceVersion;
    const labels = md.labels ?? {};
    this.gpuLabel = (opts.gpuTypeLabel ? labels[opts.gpuTypeLabel] : undefined) ?? labels[Scheduling.gpuProductLabel];
    const alloc = node.status?.allocatable?.[opts.gpuResource] ?? node.status?.capacity?.[opts.gpuResource];
    const cap = typeof alloc === "number" ? alloc : Number.parseInt(alloc ?? "0", 10);
    this.capacity = Number.isFinite(cap) && cap > 0 ? cap : 0;

    const ann = md.annotations ?? {};
    const healthValue = ann[Diagnostics.nodeHealth];
    const reason = ann[Diagnostics.reason] ?? "";
    const failingRaw = ann[Diagnostics.failingDevices];
    const report = ann[Diagnostics.lastReport];
    this.lastReportMs = report === undefined ? NaN : Date.parse(report);
    this.failing = new Uint8Array(this.capacity);
    const failingList: number[] = [];
    let health: Health = healthValue === undefined && report === undefined ? "unreported" : "ok";
    let healthReason = "";
    if (healthValue !== undefined && healthValue !== "healthy") {
      health = "unhealthy";
      healthReason =
        healthValue === "unhealthy"
          ? reason || "no reason given"
          : `unknown ${Diagnostics.nodeHealth} value ${JSON.stringify(healthValue)} (expected healthy|unhealthy)`;
    }
    if (failingRaw !== undefined && failingRaw.trim() !== "") {
      const list = parseDeviceList(failingRaw);
      if (!list) {
        health = "unhealthy";
        healthReason = `unreadable ${Diagnostics.failingDevices} ${JSON.stringify(failingRaw)} (expected e.g. "0,3")`;
      } else {
        for (const d of list) {
          if (d < this.capacity && this.failing[d] === 0) {
            this.failing[d] = 1;
            failingList.push(d);
          }
        }
      }
    }
    this.health = health;
    this.healthReason = healthReason;
    this.failingList = failingList.sort((a, b) => a - b);
    this.owners = new Array<string | undefined>(this.capacity).fill(undefined);
    this.healthyCapacity = this.capacity - failingList.length;
    this.healthyFree = this.healthyCapacity;
  }

  /** Rebuilds device ownership from the pods on this node. A pin that collides or is out of range counts unpinned. */
  recompute(claims: Iterable<[string, GpuClaim]>): void {
    this.owners.fill(undefined);
    this.unpinned = 0;
    for (const [uid, claim] of claims) {
      let pinned = false;
      const devs = claim.devices;
      if (devs && devs.length === claim.gpus && devs.every((d) => d < this.capacity && this.owners[d] === undefined)) {
        for (const d of devs) this.owners[d] = uid;
        pinned = true;
      }
      if (!pinned) this.unpinned += claim.gpus;
    }
    let free = 0;
    for (let d = 0; d < this.capacity; d++) if (this.failing[d] === 0 && this.owners[d] === undefined) free++;
    this.healthyFree = Math.max(0, free - this.unpinned);
  }

  /** Lowest-numbered healthy unowned devices, or undefined when fewer than `count` remain after unpinned use. */
  pickDevices(count: number): number[] | undefined {
    if (this.healthyFree < count) return undefined;
    const out: number[] = [];
    for (let d = 0; d < this.capacity && out.length < count; d++) {
      if (this.failing[d] === 0 && this.owners[d] === undefined) out.push(d);
    }
    return out.length === count ? out : undefined;
  }
}
