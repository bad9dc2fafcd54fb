// What the watcher tells Prometheus: the stored ring (version, nodes, owned slots) and how syncs go.
import { Counter, Gauge, type Registry } from "prom-client";

export class WatcherMetrics {
  private readonly version: Gauge;
  private readonly nodes: Gauge;
  private readonly slots: Gauge;
  private readonly syncs: Counter<"result">;
  private readonly lastSync: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.version = new Gauge({
      name: "aibrix_kvcache_cluster_version",
      help: "Version of the cache membership stored in the metadata store",
      registers,
    });
    this.nodes = new Gauge({
      name: "aibrix_kvcache_cluster_nodes",
      help: "Cache pods in the stored membership",
      registers,
    });
    this.slots = new Gauge({
      name: "aibrix_kvcache_cluster_slots",
      help: "Slots of the stored consistent-hash ring that have an owner",
      registers,
    });
    this.syncs = new Counter({
      name: "aibrix_kvcache_membership_syncs_total",
      help: "Membership syncs by result: stored (the ring changed and was written), unchanged, or failed",
      labelNames: ["result"] as const,
      registers,
    });
    for (const result of ["stored", "unchanged", "failed"]) this.syncs.inc({ result }, 0);
    this.lastSync = new Gauge({
      name: "aibrix_kvcache_membership_last_sync_timestamp_seconds",
      help: "When the stored membership was last confirmed current (Unix seconds)",
      registers,
    });
  }

  synced(version: number, nodes: number, slots: number, changed: boolean): void {
    this.version.set(version);
    this.nodes.set(nodes);
    this.slots.set(slots);
    this.syncs.inc({ result: changed ? "stored" : "unchanged" });
    this.lastSync.setToCurrentTime();
  }

  failed(): void {
    this.syncs.inc({ result: "failed" });
  }
}
