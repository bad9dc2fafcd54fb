// Several simulated engines at once (`aibrix-ts simulator --replicas N`), and the router endpoint file naming them.
//
// Endpoint file (YAML; the router's static discovery reads it): a list with one entry per engine:
//   - model: llama-3-8b            # served base model name
//     address: "127.0.0.1:40123"   # host:port of the OpenAI-compatible HTTP server
//     gpuType: H100                # GPU type of the engine calibration (optional)
//     adapters: [sql-lora]         # LoRA adapters loaded at start (optional)
//     kvEvents: "tcp://127.0.0.1:40200"  # ZMQ KV event publisher (optional; only when enabled)
//     kvEventsReplay: "tcp://127.0.0.1:40201"  # its replay socket (optional; only when enabled)
import { stringify } from "yaml";
import { startSimulator, type RunningSimulator, type SimulatorOptions } from "./server.js";

export interface EndpointEntry {
  model: string;
  address: string;
  gpuType?: string;
  adapters?: string[];
  kvEvents?: string;
  kvEventsReplay?: string;
}

export interface FleetOptions extends SimulatorOptions {
  replicas: number;
  /**
   * Listen addresses, one per replica (e.g. 127.0.0.2, 127.0.0.3 …, each on `port`); when absent every replica
   * listens on `host`, at consecutive ports from `port` (or free ports when `port` is 0 or absent).
   */
  hosts?: string[];
}

export interface RunningFleet {
  simulators: RunningSimulator[];
  endpoints(): EndpointEntry[];
  /** The endpoint file as YAML text. */
  endpointFile(): string;
  close(): Promise<void>;
}

export function endpointEntry(sim: RunningSimulator): EndpointEntry {
  const e: EndpointEntry = { model: sim.model, address: `${sim.host}:${sim.port}`, gpuType: sim.gpuType };
  const adapters = sim.adapters();
  if (adapters.length > 0) e.adapters = adapters;
  if (sim.kvEventsEndpoint) e.kvEvents = sim.kvEventsEndpoint;
  if (sim.kvEventsReplayEndpoint) e.kvEventsReplay = sim.kvEventsReplayEndpoint;
  return e;
}

export function endpointFileText(entries: readonly EndpointEntry[]): string {
  return stringify(entries);
}

export async function startSimulatorFleet(options: FleetOptions): Promise<RunningFleet> {
  const { replicas, hosts, ...base } = options;
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new Error(`replicas: ${String(replicas)} must be a positive integer`);
  }
  if (hosts && hosts.length !== replicas) {
    throw new Error(`hosts: ${hosts.length} addresses given for ${replicas} replicas; give one per replica`);
  }
  const simulators: RunningSimulator[] = [];
  try {
    for (let i = 0; i < replicas; i++) {
      const host = hosts ? hosts[i] : base.host;
      // On one host, a fixed port means consecutive ports (8000, 8001, …); on distinct hosts, the same port each.
      const nth = (p: number | undefined): number | undefined =>
        p === undefined ? undefined : hosts || p === 0 ? p : p + i;
      const port = nth(base.port ?? 0);
      const kvEventsPort = nth(base.kvEventsPort);
      const kvEventsReplayPort = nth(base.kvEventsReplayPort);
      simulators.push(await startSimulator({ ...base, host, port, kvEventsPort, kvEventsReplayPort }));
    }
  } catch (e) {
    await Promise.all(simulators.map((s) => s.close()));
    throw e;
  }
  const fleet: RunningFleet = {
    simulators,
    endpoints: () => simulators.map(endpointEntry),
    endpointFile: () => endpointFileText(fleet.endpoints()),
    close: async () => {
      await Promise.all(simulators.map((s) => s.close()));
    },
  };
  return fleet;
}
