// LoRA capacity and latency per engine, read from its /metrics for the binPack and leastLatency policies: one
// scrape per pod per period, and nothing at all for pods whose adapters use the other policies.
import { parseEngineMetrics } from "../../engines/metric-names.js";
import { engineAddress, type Pod } from "./pods.js";

export interface PodStats {
  maxLoras?: number;
  latencySeconds?: number;
}

export class PodStatsReader {
  private readonly cache = new Map<string, { at: number; stats: Promise<PodStats> }>();

  constructor(private readonly ttlMs = 10_000) {}

  read = (pod: Pod): Promise<PodStats> => {
    const address = engineAddress(pod, false);
    const id = `${address.host}:${address.port}`;
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.stats;
    const stats = this.scrape(
      `http://${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}/metrics`,
      address.engine,
    );
    this.cache.set(id, { at: Date.now(), stats });
    if (this.cache.size > 10_000) this.cache.clear();
    return stats;
  };

  private async scrape(url: string, engine: "vllm" | "sglang"): Promise<PodStats> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (!res.ok) return {};
      const m = parseEngineMetrics(await res.text(), engine);
      const latency = (m.meanQueueTime ?? 0) + (m.meanPrefillTime ?? 0) + (m.meanDecodeTime ?? 0);
      return {
        ...(m.lora ? { maxLoras: m.lora.maxLora } : {}),
        ...(latency > 0 ? { latencySeconds: latency } : {}),
      };
    } catch {
      return {}; // unknown stats: the policy treats the pod as unknown, never as empty or idle
    }
  }
}
