import type { Command } from "commander";
import { pino } from "pino";
import { DEFAULT_KEYS, startKVCacheWatcher, WATCHER_PROBE_PORT } from "../kvcache-watcher/index.js";
import { portFlag, wholeNumberFlag } from "./flags.js";
import { closeOnSignal } from "./shutdown.js";

interface WatcherFlags {
  kubeconfig?: string;
  kvcacheBackend: string;
  kvcacheServerRdmaPort: string;
  kvcacheServerAdminPort: string;
  consistentHashingTotalSlots: string;
  consistentHashingVirtualNodeCount: string;
  clusterMetaKey?: string;
  logLevel: string;
  host: string;
  port: string;
}

/** The first set variable of `names` (upstream's pod env and its watcher disagree on the namespace/cluster names). */
const env = (...names: string[]) => names.map((n) => process.env[n]).find((v) => v !== undefined && v !== "");

export function registerKVCacheWatcher(program: Command): void {
  program
    .command("kvcache-watcher")
    .description("keep a KVCache's cache-pod membership (a consistent-hash ring) in its metadata Redis")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    .option("--kvcache-backend <name>", "hpkv or infinistore (picks the default key)", "hpkv")
    .option("--kvcache-server-rdma-port <n>", "port written for every node", "18512")
    .option("--kvcache-server-admin-port <n>", "cache server admin port (accepted for compatibility)", "9100")
    .option("--consistent-hashing-total-slots <n>", "slots on the ring", "4096")
    .option("--consistent-hashing-virtual-node-count <n>", "virtual nodes per cache pod", "100")
    .option(
      "--cluster-meta-key <key>",
      "Redis key (default hpkv_cluster_metadata for hpkv, kvcache_nodes for infinistore)",
    )
    .option("--log-level <level>", "pino log level", "info")
    .option("--host <addr>", "address of /healthz, /readyz and /metrics", "0.0.0.0")
    .option("--port <n>", "port of /healthz, /readyz and /metrics", String(WATCHER_PROBE_PORT))
    .addHelpText(
      "after",
      "\nEnvironment: REDIS_ADDR (host:port or redis:// URL, required), REDIS_PASSWORD, REDIS_DATABASE,\n" +
        "AIBRIX_KVCACHE_WATCH_NAMESPACE (default: default), AIBRIX_KVCACHE_WATCH_CLUSTER (required: the KVCache name).",
    )
    .action(async (flags: WatcherFlags) => {
      const backend = flags.kvcacheBackend;
      if (backend !== "hpkv" && backend !== "infinistore") {
        throw new Error(`--kvcache-backend ${JSON.stringify(backend)} must be hpkv or infinistore`);
      }
      const redis = env("REDIS_ADDR");
      const cluster = env("AIBRIX_KVCACHE_WATCH_CLUSTER", "WATCH_KVCACHE_CLUSTER");
      if (!redis) throw new Error("REDIS_ADDR is not set: give the metadata Redis as host:port");
      if (!cluster) throw new Error("AIBRIX_KVCACHE_WATCH_CLUSTER is not set: give the KVCache's name");
      const slots = wholeNumberFlag("consistent-hashing-total-slots", flags.consistentHashingTotalSlots);
      const vnodes = wholeNumberFlag("consistent-hashing-virtual-node-count", flags.consistentHashingVirtualNodeCount);
      if (slots < 1 || vnodes < 1) throw new Error("--consistent-hashing-* must be at least 1");
      const database = env("REDIS_DATABASE");
      const log = pino({ name: "aibrix-ts-kvcache-watcher", level: flags.logLevel });
      const watcher = await startKVCacheWatcher({
        kubeconfig: flags.kubeconfig,
        namespace: env("AIBRIX_KVCACHE_WATCH_NAMESPACE", "WATCH_KVCACHE_NAMESPACE") ?? "default",
        cluster,
        redis,
        redisPassword: env("REDIS_PASSWORD"),
        redisDatabase: database === undefined ? undefined : wholeNumberFlag("REDIS_DATABASE", database),
        key: flags.clusterMetaKey ?? DEFAULT_KEYS[backend],
        port: portFlag("kvcache-server-rdma-port", flags.kvcacheServerRdmaPort),
        totalSlots: slots,
        virtualNodeCount: vnodes,
        log,
        probes: { host: flags.host, port: portFlag("port", flags.port) },
      });
      log.info({ cluster, probes: watcher.probesUrl }, "watching cache pods");
      closeOnSignal(() => watcher.close());
    });
}
