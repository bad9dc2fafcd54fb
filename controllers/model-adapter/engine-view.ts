// What the controller knows of each engine's adapters: one /v1/models read per pod per period, shared by every
// adapter on that pod, and kept current by the controller's own loads and unloads. An engine that restarted (and
// dropped its adapters) shows within one period; a new pod address is a new engine.
import type { LoraClient } from "../../engines/lora-client.js";
import { type AdapterArtifact, type EngineAddress } from "../../engines/lora-client.js";

interface Known {
  models: Set<string>;
  at: number;
}

export class EngineView {
  private readonly known = new Map<string, Known>();
  private readonly inflight = new Map<string, Promise<Set<string>>>();

  constructor(
    readonly client: LoraClient,
    /** How long a read of /v1/models is trusted. */
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  private static id(address: EngineAddress): string {
    return `${address.host}:${address.port}`;
  }

  /** The engine's model ids (read at most once per TTL; concurrent callers share one read). */
  async models(address: EngineAddress, apiKey?: string): Promise<Set<string>> {
    const id = EngineView.id(address);
    const known = this.known.get(id);
    if (known && this.clock() - known.at < this.ttlMs) return known.models;
    let read = this.inflight.get(id);
    if (!read) {
      read = this.client
        .listModels(address, apiKey)
        .then((ids) => {
          const models = new Set(ids);
          this.known.set(id, { models, at: this.clock() });
          return models;
        })
        .finally(() => this.inflight.delete(id));
      this.inflight.set(id, read);
    }
    return await read;
  }

  /** Loads unless the engine already lists the adapter; true when a load call was made. */
  async ensureLoaded(address: EngineAddress, artifact: AdapterArtifact): Promise<boolean> {
    const apiKey = artifact.additionalConfig?.["api-key"];
    if ((await this.models(address, apiKey)).has(artifact.name)) return false;
    await this.client.load(address, artifact);
    this.known.get(EngineView.id(address))?.models.add(artifact.name);
    return true;
  }

  async unload(address: EngineAddress, name: string, apiKey?: string): Promise<void> {
    await this.client.unload(address, name, apiKey);
    this.known.get(EngineView.id(address))?.models.delete(name);
  }

  /** Forgets an engine (its pod went away), so the map does not grow with pod churn. */
  forget(address: EngineAddress): void {
    this.known.delete(EngineView.id(address));
  }
}
