// The objects each backend needs, named as upstream names them (the webhook's engine env points at these names):
// vineyard → etcd members + `<name>-etcd-service`, the vineyard Deployment `<name>` and `<name>-rpc`;
// hpkv / infinistore → the metadata Redis `<name>-redis` (unless external), the cache StatefulSet `<name>` behind
// `<name>-headless-service`, and the membership watcher with its ServiceAccount, Role and RoleBinding.
import { DEFAULT_KVCACHE_IMAGE } from "../../api/index.js";
import { cacheAffinity, podFieldEnv, podTemplate, type Json, type RuntimeSpec } from "./pod-template.js";
import {
  cacheLabels,
  deployment,
  ownedMeta,
  pod,
  service,
  stamped,
  statefulSet,
  type DesiredObject,
  type KVCacheObject,
} from "./objects.js";
import type { DistributedParams } from "./settings.js";

export const VINEYARD_RPC_PORT = 9600;
export const REDIS_PORT = 6379;

export interface BackendOptions {
  /** Image of the membership watcher (`aibrix-ts kvcache-watcher`). */
  watcherImage: string;
}

const nameOf = (kv: KVCacheObject) => kv.metadata?.name ?? "";
const cacheRuntime = (kv: KVCacheObject): RuntimeSpec => (kv.spec.cache ?? {}) as RuntimeSpec;
const cacheImage = (kv: KVCacheObject) => cacheRuntime(kv).image || DEFAULT_KVCACHE_IMAGE;
const replicasOf = (runtime: RuntimeSpec | undefined) => runtime?.replicas ?? 1;

/** Desired replicas of the cache workload (what status.current is measured against). */
export const desiredCacheReplicas = (kv: KVCacheObject): number => replicasOf(cacheRuntime(kv));

/** The external metadata server, if the spec names one for `store`. */
export function externalConnection(kv: KVCacheObject, store: "redis" | "etcd") {
  return kv.spec.metadata?.[store]?.externalConnection;
}

function etcdObjects(kv: KVCacheObject): DesiredObject[] {
  const name = nameOf(kv);
  const runtime = kv.spec.metadata?.etcd?.runtime as RuntimeSpec | undefined;
  const members = Array.from({ length: Math.max(1, replicasOf(runtime)) }, (_, i) => `${name}-etcd-${i}`);
  // Every member knows every other (upstream lists only itself, which makes N single-member clusters).
  const initialCluster = members.map((m) => `${m}=http://${m}:2380`).join(",");
  const out: DesiredObject[] = [];
  for (const member of members) {
    const labels = { ...cacheLabels(kv, "metadata"), "kvcache.orchestration.aibrix.ai/etcd-index": member };
    const template = podTemplate(runtime, labels, {
      name: "etcd",
      image: runtime?.image || cacheImage(kv),
      ports: [
        { name: "client", containerPort: 2379, protocol: "TCP" },
        { name: "server", containerPort: 2380, protocol: "TCP" },
      ],
      command: [
        "etcd",
        ...["--name", member, "--initial-advertise-peer-urls", `http://${member}:2380`],
        ...["--advertise-client-urls", `http://${member}:2379`, "--listen-peer-urls", "http://0.0.0.0:2380"],
        ...["--listen-client-urls", "http://0.0.0.0:2379", "--initial-cluster", initialCluster],
        ...["--initial-cluster-state", "new"],
      ],
    });
    out.push(pod(kv, member, template.metadata.labels, template.spec));
    out.push(
      service(kv, member, labels, labels, [
        { name: "client", port: 2379 },
        { name: "server", port: 2380 },
      ]),
    );
  }
  const metadata = cacheLabels(kv, "metadata");
  out.push(service(kv, `${name}-etcd-service`, metadata, metadata, [{ name: "etcd-port", port: 2379 }]));
  return out;
}

export function vineyardObjects(kv: KVCacheObject): DesiredObject[] {
  const name = nameOf(kv);
  const namespace = kv.metadata?.namespace ?? "";
  const external = externalConnection(kv, "etcd")?.address;
  const etcdEndpoint = external ? `http://${external}` : `http://${name}-etcd-service:2379`;
  const labels = cacheLabels(kv, "cache");
  const affinity = cacheAffinity(name, kv.metadata?.annotations ?? {});
  const template = podTemplate(
    cacheRuntime(kv),
    labels,
    {
      name: "kvcache",
      image: cacheImage(kv),
      ports: [{ name: "rpc", containerPort: VINEYARD_RPC_PORT, protocol: "TCP" }],
      command: [
        "/bin/bash",
        "-c",
        "/usr/local/bin/vineyardd --sync_crds true --socket /var/run/vineyard.sock --size --stream_threshold 80 " +
          `--etcd_cmd etcd --etcd_prefix /vineyard --etcd_endpoint ${etcdEndpoint}`,
      ],
      env: [
        { name: "VINEYARDD_UID", value: kv.metadata?.uid ?? "" },
        { name: "VINEYARDD_NAME", value: name },
        { name: "VINEYARDD_NAMESPACE", value: namespace },
        ...podFieldEnv(),
      ],
      extra: {
        readinessProbe: { exec: { command: ["ls", "/var/run/vineyard.sock"] } },
        livenessProbe: { tcpSocket: { port: VINEYARD_RPC_PORT }, periodSeconds: 60, failureThreshold: 3 },
        volumeMounts: [
          { name: "vineyard-socket", mountPath: "/var/run" },
          { name: "shm", mountPath: "/dev/shm" },
          { name: "log", mountPath: "/var/log/vineyard" },
        ],
      },
    },
    {
      ...(affinity ? { affinity } : {}),
      tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
      volumes: [
        { name: "vineyard-socket", hostPath: { path: `/var/run/vineyard-kubernetes/${namespace}/${name}` } },
        { name: "shm", emptyDir: { medium: "Memory" } },
        { name: "log", emptyDir: {} },
      ],
    },
  );
  return [
    ...(external ? [] : etcdObjects(kv)),
    deployment(kv, name, "cache", desiredCacheReplicas(kv), template),
    service(kv, `${name}-rpc`, cacheLabels(kv), labels, [{ name: "vineyard-rpc", port: VINEYARD_RPC_PORT }]),
  ];
}

function redisObjects(kv: KVCacheObject): DesiredObject[] {
  const name = `${nameOf(kv)}-redis`;
  const runtime = kv.spec.metadata?.redis?.runtime as RuntimeSpec | undefined;
  const labels = cacheLabels(kv, "metadata");
  const template = podTemplate(runtime, labels, {
    name: "redis",
    image: runtime?.image || cacheImage(kv),
    command: ["redis-server"],
    ports: [{ name: "redis", containerPort: REDIS_PORT, protocol: "TCP" }],
  });
  // One replica, replaced only when spec.metadata changes: a cache rollout never restarts the store that holds
  // the membership engines read (upstream's bare Pod is also never replaced, but is not restarted if evicted).
  const store = deployment(kv, name, "metadata", 1, template, { recreate: true, hashBasis: kv.spec.metadata ?? {} });
  return [store, service(kv, name, labels, labels, [{ name: "service", port: REDIS_PORT }])];
}

function cacheServerCommand(params: DistributedParams): string[] {
  if (params.backend === "hpkv") {
    return [
      "/bin/bash",
      "-c",
      "AIBRIX_KVCACHE_RDMA_IP=$(ip addr show dev eth1 | grep 'inet ' | awk '{print $2}' | awk -F/ '{print $1}'); " +
        'echo "Binding to RDMA IP: $AIBRIX_KVCACHE_RDMA_IP"; ./hpkv-server -a $AIBRIX_KVCACHE_RDMA_IP ' +
        "-p $AIBRIX_KVCACHE_RDMA_PORT -v $AIBRIX_KVCACHE_BLOCK_SIZE_IN_BYTES -b $AIBRIX_KVCACHE_BLOCK_COUNT --acl any",
    ];
  }
  return [
    "/bin/bash",
    "-c",
    `infinistore --service-port $AIBRIX_KVCACHE_RDMA_PORT --manage-port $AIBRIX_KVCACHE_ADMIN_PORT ` +
      `--link-type ${params.linkType} --hint-gid-index ${params.hintGidIndex}`,
  ];
}

function cacheStatefulSet(kv: KVCacheObject, params: DistributedParams): DesiredObject {
  const name = nameOf(kv);
  const env: Json[] = [
    ...podFieldEnv(),
    { name: "AIBRIX_KVCACHE_UID", value: kv.metadata?.uid ?? "" },
    { name: "AIBRIX_KVCACHE_NAME", value: name },
    { name: "AIBRIX_KVCACHE_NAMESPACE", value: kv.metadata?.namespace ?? "" },
    { name: "AIBRIX_KVCACHE_BACKEND", value: params.backend },
    { name: "AIBRIX_KVCACHE_RDMA_PORT", value: String(params.rdmaPort) },
    { name: "AIBRIX_KVCACHE_ADMIN_PORT", value: String(params.adminPort) },
    ...(params.blockSizeBytes
      ? [{ name: "AIBRIX_KVCACHE_BLOCK_SIZE_IN_BYTES", value: String(params.blockSizeBytes) }]
      : []),
    ...(params.blockCount ? [{ name: "AIBRIX_KVCACHE_BLOCK_COUNT", value: String(params.blockCount) }] : []),
  ];
  const affinity = cacheAffinity(name, kv.metadata?.annotations ?? {});
  const template = podTemplate(
    cacheRuntime(kv),
    cacheLabels(kv, "cache"),
    {
      name: "kvcache-server",
      image: cacheImage(kv),
      command: cacheServerCommand(params),
      env,
      ports: [
        { name: "service", containerPort: params.servicePort, protocol: "TCP" },
        ...(params.rdmaPort !== params.servicePort
          ? [{ name: "rdma", containerPort: params.rdmaPort, protocol: "TCP" }]
          : []),
        { name: "admin", containerPort: params.adminPort, protocol: "TCP" },
      ],
      extra: {
        securityContext: { capabilities: { add: ["IPC_LOCK"] }, privileged: true },
        volumeMounts: [{ name: "shared-mem", mountPath: "/dev/shm" }],
      },
    },
    {
      hostIPC: true,
      ...(affinity ? { affinity } : {}),
      volumes: [{ name: "shared-mem", emptyDir: { medium: "Memory" } }],
    },
  );
  return statefulSet(kv, name, `${name}-headless-service`, desiredCacheReplicas(kv), template);
}

/** Where the watcher serves /healthz, /readyz and /metrics (passed as --port, so both sides agree). */
export const WATCHER_PROBE_PORT = 8080;

function watcherObjects(kv: KVCacheObject, params: DistributedParams, options: BackendOptions): DesiredObject[] {
  const name = `${nameOf(kv)}-kvcache-watcher`;
  const labels = cacheLabels(kv, "kvwatcher");
  const external = externalConnection(kv, "redis");
  const passwordSecret = external?.passwordSecretRef;
  const env: Json[] = [
    { name: "REDIS_ADDR", value: external?.address ?? `${nameOf(kv)}-redis:${REDIS_PORT}` },
    passwordSecret
      ? { name: "REDIS_PASSWORD", valueFrom: { secretKeyRef: { name: passwordSecret, key: "password" } } }
      : { name: "REDIS_PASSWORD", value: "" },
    { name: "REDIS_DATABASE", value: "0" },
    { name: "AIBRIX_KVCACHE_WATCH_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    { name: "AIBRIX_KVCACHE_WATCH_CLUSTER", value: nameOf(kv) },
  ];
  const runtime = kv.spec.watcher as RuntimeSpec | undefined;
  const template = podTemplate(
    runtime,
    labels,
    {
      name: "kvcache-watcher",
      image: options.watcherImage,
      args: [
        "kvcache-watcher",
        ...["--kvcache-backend", params.backend, "--kvcache-server-rdma-port", String(params.rdmaPort)],
        ...["--kvcache-server-admin-port", String(params.adminPort)],
        ...["--consistent-hashing-total-slots", String(params.totalSlots)],
        ...["--consistent-hashing-virtual-node-count", String(params.virtualNodeCount)],
        ...["--cluster-meta-key", params.clusterMetaKey],
        ...["--port", String(WATCHER_PROBE_PORT)],
      ],
      env,
      ports: [{ name: "http", containerPort: WATCHER_PROBE_PORT }],
      extra: {
        // Ready once the membership is stored and the last write to Redis went through.
        readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 5, failureThreshold: 3 },
        livenessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 20, failureThreshold: 3 },
      },
    },
    { serviceAccountName: name },
  );
  const meta = ownedMeta(kv, name, labels);
  return [
    { kind: "serviceAccounts", object: stamped({ apiVersion: "v1", kind: "ServiceAccount", metadata: meta }) },
    {
      kind: "roles",
      object: stamped({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: meta,
        rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }],
      }),
    },
    {
      kind: "roleBindings",
      object: stamped({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: meta,
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects: [{ kind: "ServiceAccount", name, namespace: kv.metadata?.namespace }],
      }),
    },
    deployment(kv, name, "kvwatcher", Math.min(1, replicasOf(runtime)), template),
  ];
}

export function distributedObjects(
  kv: KVCacheObject,
  params: DistributedParams,
  options: BackendOptions,
): DesiredObject[] {
  const name = nameOf(kv);
  const cache = cacheLabels(kv, "cache");
  return [
    ...(externalConnection(kv, "redis") ? [] : redisObjects(kv)),
    cacheStatefulSet(kv, params),
    service(
      kv,
      `${name}-headless-service`,
      cacheLabels(kv),
      cache,
      [{ name: "service", port: params.servicePort }],
      true,
    ),
    ...watcherObjects(kv, params, options),
  ];
}
