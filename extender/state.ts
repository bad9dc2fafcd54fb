// The extender's picture of the cluster: nodes and the GPU claims of the pods on them. Fed by informers in a cluster,
// directly by tests and benchmarks. Every mutation is synchronous, so a reservation made between two awaits is atomic
// with respect to every other request on this event loop.
import { Scheduling } from "../api/labels.js";
import { NodeNameTable } from "./name-table.js";
import { NodeRecord, type GpuClaim, type NodeReadOptions } from "./node.js";
import { parseDeviceList, podDeploymentKey, podGpuRequest } from "./pod.js";
import type { NodeObject, PodObject } from "./wire.js";

interface PodRecord extends GpuClaim {
  uid: string;
  namespace: string;
  name: string;
  /** Node the pod is bound (or being bound) to; undefined while pending. */
  node: string | undefined;
  deploymentKey: string | undefined;
  /** GPU label this pod is counted under in its deployment's placed counts (kept in step with node relabels). */
  countedLabel: string | undefined;
  /** True while our own bind is in flight: devices are held before the Binding is posted. */
  reserved: boolean;
}

/** Node names numbered for lookups from request bytes, and the current record behind each number. */
export interface NodeNameIndex {
  table: NodeNameTable;
  /** By table index; undefined once the node is deleted. */
  records: readonly (NodeRecord | undefined)[];
}

export interface PendingPod {
  namespace: string;
  name: string;
  gpus: number;
}

/** The narrow interface the informers (or a test) drive. */
export interface ClusterFeed {
  upsertNode(node: NodeObject): void;
  deleteNode(name: string): void;
  upsertPod(pod: PodObject): void;
  deletePod(pod: PodObject): void;
}

const TERMINAL = new Set(["Succeeded", "Failed"]);
const EMPTY: ReadonlyMap<string, number> = new Map();

export class ClusterState implements ClusterFeed {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly pods = new Map<string, PodRecord>();
  private readonly podsByNode = new Map<string, Set<string>>();
  private readonly labelIds = new Map<string, number>();
  /** deployment key → raw GPU label → pods placed there, maintained on every change so prioritize reads it in O(1). */
  private readonly placed = new Map<string, Map<string, number>>();
  /**
   * A stable number per node name (the name table's index) with the current record behind it: node updates replace
   * the record in place, only a new name rebuilds the table (lazily, on the next lookup).
   */
  private readonly slotOf = new Map<string, number>();
  private slotNames: string[] = [];
  private slotRecords: (NodeRecord | undefined)[] = [];
  private deletedSlots = 0;
  private nameTable: NodeNameTable | undefined;

  constructor(readonly nodeOptions: NodeReadOptions = { gpuResource: Scheduling.gpuResource }) {}

  get nodeCount(): number {
    return this.nodes.size;
  }

  node(name: string): NodeRecord | undefined {
    return this.nodes.get(name);
  }

  /**
   * The record for a node object sent in full by kube-scheduler: ours when it is the same version, else one built
   * from the object with the claims we know for that node name.
   */
  recordFor(node: NodeObject): NodeRecord {
    const name = node.metadata?.name ?? "";
    const cached = this.nodes.get(name);
    const rv = node.metadata?.resourceVersion;
    if (cached && rv !== undefined && cached.resourceVersion === rv) return cached;
    const rec = new NodeRecord(node, this.nodeOptions);
    this.intern(rec);
    rec.recompute(this.claimsOn(name));
    return rec;
  }

  upsertNode(node: NodeObject): void {
    const name = node.metadata?.name;
    if (!name) return;
    const rec = new NodeRecord(node, this.nodeOptions);
    this.intern(rec);
    rec.recompute(this.claimsOn(name));
    const before = this.nodes.get(name)?.gpuLabel;
    this.nodes.set(name, rec);
    this.setSlot(name, rec);
    if (before !== rec.gpuLabel) this.recount(name, rec.gpuLabel);
  }

  deleteNode(name: string): void {
    if (this.nodes.delete(name)) this.setSlot(name, undefined);
    this.recount(name, undefined);
  }

  /** The node name table, rebuilt here when names were added (or many deleted) since the last call. */
  nameIndex(): NodeNameIndex {
    if (!this.nameTable) {
      if (this.mostlyDeleted()) this.compactSlots();
      this.nameTable = new NodeNameTable(this.slotNames);
    }
    return { table: this.nameTable, records: this.slotRecords };
  }

  private setSlot(name: string, rec: NodeRecord | undefined): void {
    const slot = this.slotOf.get(name);
    if (slot === undefined) {
      if (!rec) return;
      this.slotOf.set(name, this.slotNames.length);
      this.slotNames.push(name);
      this.slotRecords.push(rec);
      this.nameTable = undefined;
      return;
    }
    if (!rec && this.slotRecords[slot]) this.deletedSlots++;
    else if (rec && !this.slotRecords[slot]) this.deletedSlots--;
    this.slotRecords[slot] = rec;
    if (!rec && this.mostlyDeleted()) this.nameTable = undefined;
  }

  /** Over half the numbered names (and more than a thousand) belong to deleted nodes: time to renumber. */
  private mostlyDeleted(): boolean {
    return this.deletedSlots > 1000 && this.deletedSlots * 2 > this.slotNames.length;
  }

  /** Drops deleted names from the numbering (node churn would otherwise grow it without bound). */
  private compactSlots(): void {
    this.slotOf.clear();
    this.slotNames = [];
    this.slotRecords = [];
    for (const [name, rec] of this.nodes) {
      this.slotOf.set(name, this.slotNames.length);
      this.slotNames.push(name);
      this.slotRecords.push(rec);
    }
    this.deletedSlots = 0;
  }

  upsertPod(pod: PodObject): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    if (TERMINAL.has(pod.status?.phase ?? "")) {
      this.forget(uid);
      return;
    }
    let gpus: number;
    try {
      gpus = podGpuRequest(pod, this.nodeOptions.gpuResource);
    } catch {
      gpus = 0; // kube-apiserver rejects non-integer extended resources; nothing to count
    }
    const prev = this.pods.get(uid);
    const nodeName = pod.spec?.nodeName || undefined;
    if (prev?.reserved && nodeName === undefined) return; // our bind is in flight: keep the held devices
    const rec: PodRecord = {
      uid,
      namespace: pod.metadata?.namespace ?? "default",
      name: pod.metadata?.name ?? "",
      node: nodeName,
      gpus,
      devices: parseDeviceList(pod.metadata?.annotations?.[Scheduling.assignedDevices]),
      deploymentKey: podDeploymentKey(pod),
      countedLabel: undefined,
      reserved: false,
    };
    if (prev) this.detach(prev);
    this.attach(rec);
  }

  deletePod(pod: PodObject): void {
    const uid = pod.metadata?.uid;
    if (uid) this.forget(uid);
  }

  /** A pending pod's identity and GPU count, when the pod informer has seen it. */
  pendingPod(uid: string): PendingPod | undefined {
    const p = this.pods.get(uid);
    return p ? { namespace: p.namespace, name: p.name, gpus: p.gpus } : undefined;
  }

  /** The node a pod is bound (or being bound) to and the GPUs it holds there. */
  claimOf(uid: string): { node: string; gpus: number; devices: readonly number[] | undefined } | undefined {
    const p = this.pods.get(uid);
    return p?.node ? { node: p.node, gpus: p.gpus, devices: p.devices } : undefined;
  }

  /** Devices a pod holds on a node (bound or reserved), for tests and diagnostics. */
  devicesOf(uid: string): readonly number[] | undefined {
    return this.pods.get(uid)?.devices;
  }

  /**
   * Picks and holds `gpus` devices on `nodeName` for the pod, before its Binding is posted. Synchronous, so no other
   * request can pick the same devices. Returns the devices, or a reason a person can act on.
   */
  reserve(pod: { uid: string; namespace: string; name: string; gpus: number }, nodeName: string): number[] | string {
    const node = this.nodes.get(nodeName);
    if (!node) return `node ${nodeName} is not in the extender's cache yet; retry once the node informer has it`;
    const prev = this.pods.get(pod.uid);
    if (prev?.node !== undefined && !prev.reserved) {
      return `pod ${pod.namespace}/${pod.name} is already bound to ${prev.node}`;
    }
    if (prev) this.detach(prev); // a retried bind drops its earlier hold first
    const devices = pod.gpus > 0 ? node.pickDevices(pod.gpus) : [];
    if (!devices) {
      if (prev) this.attach({ ...prev, node: undefined, devices: undefined, reserved: false });
      return (
        `node ${nodeName} has ${node.healthyFree} free healthy ${this.nodeOptions.gpuResource} ` +
        `but pod ${pod.namespace}/${pod.name} needs ${pod.gpus}; another pod took them first`
      );
    }
    this.attach({
      uid: pod.uid,
      namespace: pod.namespace,
      name: pod.name,
      node: nodeName,
      gpus: pod.gpus,
      devices,
      deploymentKey: prev?.deploymentKey,
      countedLabel: undefined,
      reserved: true,
    });
    return devices;
  }

  /**
   * The Binding landed: the hold becomes an ordinary claim (the watch event will confirm it). `devices` is the array
   * `reserve` returned, so a later hold of the same pod (a retried bind) is never touched by an earlier one.
   */
  confirm(uid: string, devices?: readonly number[]): void {
    const p = this.pods.get(uid);
    if (p?.reserved && (devices === undefined || p.devices === devices)) p.reserved = false;
  }

  /** The Binding failed: give the devices back, unless a watch event already showed the pod bound. */
  release(uid: string, devices?: readonly number[]): void {
    const p = this.pods.get(uid);
    if (!p?.reserved || (devices !== undefined && p.devices !== devices)) return;
    this.detach(p);
    this.attach({ ...p, node: undefined, devices: undefined, reserved: false });
  }

  /** Pods of a deployment placed (bound or being bound) per raw GPU label value. */
  placedByGpuLabel(deploymentKey: string): ReadonlyMap<string, number> {
    return this.placed.get(deploymentKey) ?? EMPTY;
  }

  /** GPU label values are few; number them so policy can cache per-type verdicts in an array. */
  private intern(rec: NodeRecord): void {
    if (rec.gpuLabel === undefined) return;
    let id = this.labelIds.get(rec.gpuLabel);
    if (id === undefined) this.labelIds.set(rec.gpuLabel, (id = this.labelIds.size));
    rec.labelId = id;
  }

  private count(deploymentKey: string, label: string, delta: number): void {
    let m = this.placed.get(deploymentKey);
    if (!m) this.placed.set(deploymentKey, (m = new Map()));
    const n = (m.get(label) ?? 0) + delta;
    if (n > 0) m.set(label, n);
    else m.delete(label);
    if (m.size === 0) this.placed.delete(deploymentKey);
  }

  /** A node appeared, vanished or changed GPU label: move its pods' placed counts to the new label. */
  private recount(nodeName: string, label: string | undefined): void {
    const uids = this.podsByNode.get(nodeName);
    if (!uids) return;
    for (const uid of uids) {
      const p = this.pods.get(uid);
      if (!p?.deploymentKey) continue;
      if (p.countedLabel !== undefined) this.count(p.deploymentKey, p.countedLabel, -1);
      p.countedLabel = label;
      if (label !== undefined) this.count(p.deploymentKey, label, 1);
    }
  }

  private *claimsOn(nodeName: string): Generator<[string, GpuClaim]> {
    const uids = this.podsByNode.get(nodeName);
    if (!uids) return;
    for (const uid of uids) {
      const p = this.pods.get(uid);
      if (p && p.gpus > 0) yield [uid, p];
    }
  }

  private attach(rec: PodRecord): void {
    this.pods.set(rec.uid, rec);
    rec.countedLabel = undefined;
    if (rec.node && rec.deploymentKey) {
      rec.countedLabel = this.nodes.get(rec.node)?.gpuLabel;
      if (rec.countedLabel !== undefined) this.count(rec.deploymentKey, rec.countedLabel, 1);
    }
    if (rec.node) {
      let set = this.podsByNode.get(rec.node);
      if (!set) this.podsByNode.set(rec.node, (set = new Set()));
      set.add(rec.uid);
      this.nodes.get(rec.node)?.recompute(this.claimsOn(rec.node));
    }
  }

  private detach(rec: PodRecord): void {
    this.pods.delete(rec.uid);
    if (rec.deploymentKey && rec.countedLabel !== undefined) this.count(rec.deploymentKey, rec.countedLabel, -1);
    rec.countedLabel = undefined;
    if (rec.node) {
      const set = this.podsByNode.get(rec.node);
      set?.delete(rec.uid);
      if (set?.size === 0) this.podsByNode.delete(rec.node);
      this.nodes.get(rec.node)?.recompute(this.claimsOn(rec.node));
    }
  }

  private forget(uid: string): void {
    const p = this.pods.get(uid);
    if (p) this.detach(p);
  }
}
