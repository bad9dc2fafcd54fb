// What a KVCache asks for beyond its spec: the backend (annotation, legacy mode annotation, default vineyard) and the
// backend's numeric knobs from its annotations, with upstream's defaults. A malformed annotation is an error that
// names it and the rule (upstream silently falls back to the default).
import { HpkvAnnotation, InfinistoreAnnotation, KVCacheBackends, type KVCacheBackend } from "../../api/labels.js";
import { isSupportedBackend, kvCacheBackend } from "../../api/index.js";

export interface DistributedParams {
  backend: "hpkv" | "infinistore";
  rdmaPort: number;
  adminPort: number;
  /** Port of the headless cache Service (upstream: hpkv 9600, infinistore its RDMA port). */
  servicePort: number;
  totalSlots: number;
  virtualNodeCount: number;
  /** hpkv only. */
  blockSizeBytes?: number;
  blockCount?: number;
  /** infinistore only. */
  linkType?: string;
  hintGidIndex?: number;
  /** Redis key the watcher writes membership under (the one the webhook tells engines to read). */
  clusterMetaKey: string;
}

export class KVCacheSpecError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

type Annotations = Record<string, string>;

function positiveInt(annotations: Annotations, key: string, fallback: number, max = 2 ** 31 - 1): number {
  const raw = annotations[key];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < 1 || value > max) {
    throw new KVCacheSpecError(
      "InvalidAnnotation",
      `annotation ${key}=${JSON.stringify(raw)} must be a whole number from 1 to ${max}`,
    );
  }
  return value;
}

const port = (a: Annotations, key: string, fallback: number) => positiveInt(a, key, fallback, 65535);

/** The backend the object asks for; an unsupported one is an error naming the annotation. */
export function backendOf(annotations: Annotations): KVCacheBackend {
  const backend = kvCacheBackend({ metadata: { annotations } });
  if (!isSupportedBackend(backend)) {
    throw new KVCacheSpecError(
      "UnsupportedBackend",
      `backend ${JSON.stringify(backend)} is not one of ${KVCacheBackends.join(", ")}`,
    );
  }
  return backend;
}

export function distributedParams(backend: "hpkv" | "infinistore", annotations: Annotations): DistributedParams {
  if (backend === "hpkv") {
    const rdmaPort = port(annotations, HpkvAnnotation.rdmaPort, 18512);
    return {
      backend,
      rdmaPort,
      adminPort: port(annotations, HpkvAnnotation.adminPort, 9100),
      servicePort: 9600,
      totalSlots: positiveInt(annotations, HpkvAnnotation.totalSlots, 4096),
      virtualNodeCount: positiveInt(annotations, HpkvAnnotation.virtualNodeCount, 100),
      blockSizeBytes: positiveInt(annotations, HpkvAnnotation.blockSizeBytes, 4096),
      blockCount: positiveInt(annotations, HpkvAnnotation.blockCount, 1_048_576),
      clusterMetaKey: "hpkv_cluster_metadata",
    };
  }
  return {
    backend,
    rdmaPort: 12345,
    adminPort: 8888,
    servicePort: 12345,
    totalSlots: 4096,
    virtualNodeCount: 100,
    linkType: annotations[InfinistoreAnnotation.linkType] || "Ethernet",
    hintGidIndex: positiveInt(annotations, InfinistoreAnnotation.hintGidIndex, 7),
    clusterMetaKey: "kvcache_nodes",
  };
}
