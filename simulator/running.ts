// The handle a started simulator returns: where it listens, its adapters, faults and stats, and `close`.
import type { SimulatorCore } from "./core.js";
import { FaultState, type FaultSettings } from "./faults.js";
import type { KvEventPublisher } from "./kv-events.js";

export interface SimulatorStats {
  running: number;
  waiting: number;
  kvCacheUsage: number;
  freeBlocks: number;
  preemptions: number;
  adapters: string[];
  simulatedSeconds: number;
}

export interface RunningSimulator {
  url: string;
  host: string;
  port: number;
  model: string;
  /** Name of the engine calibration it runs. */
  calibration: string;
  gpuType: string;
  /** `tcp://host:port` of the KV event publisher, when enabled. */
  kvEventsEndpoint?: string;
  /** `tcp://host:port` of the KV event replay socket, when enabled. */
  kvEventsReplayEndpoint?: string;
  kvEventsTopic?: string;
  adapters(): string[];
  loadAdapter(name: string, path?: string): Promise<void>;
  unloadAdapter(name: string): void;
  /** Current fault settings; `setFaults` merges. */
  faults(): FaultSettings;
  setFaults(patch: Partial<FaultSettings>): FaultSettings;
  stats(): SimulatorStats;
  resetPrefixCache(): boolean;
  /** Prometheus text of this instance's registry. */
  metricsText(): Promise<string>;
  close(): Promise<void>;
}

export interface RunningParts {
  host: string;
  port: number;
  publisher: KvEventPublisher | undefined;
  kvEventsTopic: string | undefined;
  /** Simulated milliseconds an adapter load through the API takes. */
  loraApiLoadMs: number;
  /** Stops the server and the engine (idempotent). */
  shutdown(): Promise<void>;
  /** Called when a crash is injected, after the shutdown. */
  onCrash?: (code: number) => void;
}

export function runningSimulator(core: SimulatorCore, parts: RunningParts): RunningSimulator {
  const { engine, loop, faults, adapters } = core;
  const { host, port, publisher, shutdown } = parts;
  let crashed = false;
  const sim: RunningSimulator = {
    url: `http://${host}:${port}`,
    host,
    port,
    model: core.model,
    calibration: core.calibration.name,
    gpuType: core.calibration.gpuType,
    kvEventsEndpoint: publisher?.endpoint,
    kvEventsReplayEndpoint: publisher?.replayEndpoint,
    kvEventsTopic: parts.kvEventsTopic,
    adapters: () => [...adapters.keys()],
    async loadAdapter(name, path) {
      if (adapters.has(name)) throw new Error(`adapter: "${name}" is already loaded`);
      // Reserve the name first so concurrent loads of one adapter fail like vLLM's.
      adapters.set(name, { name, id: core.nextLoraId++, path: path ?? `/models/${name}` });
      if (parts.loraApiLoadMs > 0) await core.wallDelay(parts.loraApiLoadMs);
    },
    unloadAdapter(name) {
      if (!adapters.delete(name)) throw new Error(`adapter: "${name}" is not loaded`);
      engine.evictLora(name);
    },
    faults: () => ({ ...faults.settings, metricOverrides: Object.fromEntries(faults.metricOverrides) }),
    setFaults(patch) {
      faults.apply(FaultState.parsePatch(patch));
      loop.slowdown = faults.settings.slowdown;
      loop.setPaused(faults.settings.hang);
      if (!faults.settings.hang) {
        for (const r of core.hung) r.destroy();
        core.hung.clear();
      }
      if (faults.settings.crash && !crashed) {
        crashed = true;
        const code = faults.settings.crashExitCode;
        // Let the admin response go out first.
        setTimeout(() => {
          void shutdown().then(() => parts.onCrash?.(code));
        }, 10);
      }
      return sim.faults();
    },
    stats: () => ({
      running: engine.numRunning,
      waiting: engine.numWaiting,
      kvCacheUsage: engine.pool.usage(),
      freeBlocks: engine.pool.freeBlocks,
      preemptions: engine.preemptions,
      adapters: [...adapters.keys()],
      simulatedSeconds: loop.now(),
    }),
    resetPrefixCache() {
      const ok = engine.resetPrefixCache();
      // Outside a step: publish now rather than with the next step's batch.
      publisher?.publish(engine.drainKvEvents());
      return ok;
    },
    metricsText: () => core.metrics.text(),
    close: shutdown,
  };
  return sim;
}
