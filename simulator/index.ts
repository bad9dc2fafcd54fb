// Public API of the vLLM-compatible engine simulator.
export {
  SIMULATOR_TOKENIZER_DIR,
  startSimulator,
  type SimulatorOptions,
  type RunningSimulator,
  type SimulatorStats,
} from "./server.js";
export {
  startSimulatorFleet,
  endpointEntry,
  endpointFileText,
  type FleetOptions,
  type RunningFleet,
  type EndpointEntry,
} from "./fleet.js";
export type { FaultSettings } from "./faults.js";
export {
  calibrations,
  getCalibration,
  DEFAULT_CALIBRATION,
  type EngineCalibration,
  type CalibrationFigure,
} from "./calibrations.js";
export { encodeBatch, eventToWire, KV_MEDIUM } from "./kv-events.js";
export type { KvEvent } from "./kv-cache.js";
