// The environment an engine needs to reach a KVCache cluster, derived from the KVCache object: the backend picks
// the variable set, the object's name and namespace give the service addresses the KVCache controller creates.
import { InfinistoreAnnotation, kvCacheBackend } from "../api/index.js";

export interface EnvVar {
  name: string;
  value: string;
}

export interface KVCacheEnv {
  env: EnvVar[];
  warnings: string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function externalRedis(kvcache: Record<string, unknown>): string | undefined {
  const spec = isRecord(kvcache.spec) ? kvcache.spec : {};
  const metadata = isRecord(spec.metadata) ? spec.metadata : {};
  const redis = isRecord(metadata.redis) ? metadata.redis : {};
  const external = isRecord(redis.externalConnection) ? redis.externalConnection : {};
  const address = external.address;
  if (typeof address !== "string" || address === "") return undefined;
  return address.includes("://") ? address : `redis://${address}`;
}

/** Connection env for an engine using `kvcache`; warns when the cache has no ready replicas yet. */
export function kvCacheEnv(kvcache: Record<string, unknown>, namespace: string): KVCacheEnv {
  const metadata = isRecord(kvcache.metadata) ? kvcache.metadata : {};
  const name = typeof metadata.name === "string" ? metadata.name : "";
  const annotations = isRecord(metadata.annotations) ? (metadata.annotations as Record<string, string>) : {};
  const backend = kvCacheBackend({ metadata: { annotations } });
  const warnings: string[] = [];
  const status = isRecord(kvcache.status) ? kvcache.status : {};
  const ready = typeof status.current === "number" ? status.current : 0;
  if (ready <= 0) warnings.push(`KVCache ${name} has no ready cache replicas yet (status.current=${ready})`);

  const svc = (suffix: string) => `${name}${suffix}.${namespace}.svc`;
  const redisUrl = externalRedis(kvcache) ?? `redis://${svc("-redis")}:6379`;
  const env: EnvVar[] = [];
  switch (backend) {
    case "infinistore": {
      env.push(
        { name: "AIBRIX_KV_CACHE_OL_L2_CACHE_BACKEND", value: "infinistore" },
        { name: "AIBRIX_KV_CACHE_OL_META_SERVICE_BACKEND", value: "redis" },
        { name: "AIBRIX_KV_CACHE_OL_META_SERVICE_URL", value: redisUrl },
        { name: "AIBRIX_KV_CACHE_OL_META_SERVICE_CLUSTER_META_KEY", value: "kvcache_nodes" },
      );
      const linkType = annotations[InfinistoreAnnotation.linkType];
      if (typeof linkType === "string" && linkType !== "") {
        env.push({ name: "AIBRIX_KV_CACHE_OL_INFINISTORE_LINK_TYPE", value: linkType });
      }
      break;
    }
    case "hpkv":
      env.push(
        { name: "AIBRIX_KV_CACHE_OL_L2_CACHE_BACKEND", value: "hpkv" },
        { name: "AIBRIX_KV_CACHE_OL_META_SERVICE_BACKEND", value: "redis" },
        { name: "AIBRIX_KV_CACHE_OL_META_SERVICE_URL", value: redisUrl },
        { name: "AIBRIX_KV_CACHE_OL_META_SERVICE_CLUSTER_META_KEY", value: "hpkv_cluster_metadata" },
      );
      break;
    case "vineyard":
      env.push(
        { name: "VLLM_USE_VINEYARD_CACHE", value: "1" },
        { name: "AIBRIX_LLM_KV_CACHE", value: "1" },
        { name: "AIBRIX_LLM_KV_CACHE_RPC_ENDPOINT", value: `${svc("-rpc")}:9600` },
      );
      break;
    default:
      warnings.push(`KVCache ${name} uses unsupported backend ${JSON.stringify(backend)}; no cache env added`);
  }
  return { env, warnings };
}
