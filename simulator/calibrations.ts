// Engine calibrations per (GPU type, model size): the step-time coefficients and engine limits, with the published
// figures each coefficient was fitted to (simulator/calibrations.json; bench/simulator-calibration checks the fit).
import { readFileSync } from "node:fs";
import type { CapacityPolicy, EngineConfig } from "./engine.js";

/** A published (or, where marked, derived) measurement a calibration reproduces. */
export interface CalibrationFigure {
  id: string;
  /** ttft_ms: single request, prompt `promptTokens`; itl_ms: single request; output_tok_s: saturation throughput. */
  metric: "ttft_ms" | "itl_ms" | "output_tok_s";
  promptTokens: number;
  outputTokens: number;
  value: number;
  /** "published": taken as printed; "derived": computed from published numbers as `source` explains. */
  kind: "published" | "derived";
  source: string;
  /**
   * Saturation figures: the requests the figure's run sent at once (its published dataset size), and the capacity
   * policy its engine ran (TensorRT-LLM's figures: "guaranteed-no-evict"). Measured the same way here.
   */
  requests?: number;
  capacityPolicy?: CapacityPolicy;
}

export interface CoefficientRecord {
  value: number;
  unit: string;
  /** The datasheet value before any fit scaled it (b3, b4): a refit starts from it. */
  physical?: number;
  /** Ids of the figures this coefficient was fitted to, or the physical formula it comes from. */
  fittedTo: string[];
  note: string;
}

export interface EngineCalibration {
  name: string;
  gpuType: string;
  model: string;
  tensorParallel: number;
  description: string;
  engine: {
    blockSize: number;
    numGpuBlocks: number;
    maxNumSeqs: number;
    maxNumBatchedTokens: number;
    maxModelLen: number;
    maxLoras: number;
    loraLoadMs: number;
    /** How numGpuBlocks was sized. */
    kvNote: string;
  };
  coefficients: {
    b0: CoefficientRecord;
    b1: CoefficientRecord;
    b2: CoefficientRecord;
    b3: CoefficientRecord;
    /** Prefill attention per (prompt token, token it attends to); absent: 0. */
    b4?: CoefficientRecord;
  };
  figures: CalibrationFigure[];
  /** Published figures NOT used in the fit: the calibration benchmark reports how well the model extrapolates. */
  holdout?: CalibrationFigure[];
}

let cache: Map<string, EngineCalibration> | null = null;

/** All calibrations from simulator/calibrations.json, by name. */
export function calibrations(): Map<string, EngineCalibration> {
  if (!cache) {
    const raw = JSON.parse(readFileSync(new URL("./calibrations.json", import.meta.url), "utf8")) as {
      calibrations: EngineCalibration[];
    };
    cache = new Map(raw.calibrations.map((p) => [p.name, p]));
  }
  return cache;
}

export const DEFAULT_CALIBRATION = "h100-8b";

export function getCalibration(name: string): EngineCalibration {
  const p = calibrations().get(name);
  if (!p) {
    throw new Error(
      `calibration: "${name}" is not a known engine calibration; use one of ${[...calibrations().keys()].join(", ")}`,
    );
  }
  return p;
}

let warnedProfileOption = false;

function warnProfileOptionOnce(): void {
  if (warnedProfileOption) return;
  warnedProfileOption = true;
  process.emitWarning("the simulator option `profile` is now `calibration`", {
    type: "DeprecationWarning",
    code: "AIBRIX_SIMULATOR_PROFILE",
  });
}

/** The calibration the options name; `profile`, its old name, still works and warns (once per process by default). */
export function calibrationName(
  options: { calibration?: string; profile?: string },
  warnDeprecated: () => void = warnProfileOptionOnce,
): string {
  if (options.profile === undefined) return options.calibration ?? DEFAULT_CALIBRATION;
  if (options.calibration !== undefined && options.calibration !== options.profile) {
    throw new Error(
      `profile: "${options.profile}" conflicts with calibration: "${options.calibration}"; set only calibration`,
    );
  }
  warnDeprecated();
  return options.profile;
}

/** Engine configuration of a calibration, with optional overrides of its limits. */
export function engineConfigFor(calibration: EngineCalibration, overrides: Partial<EngineConfig> = {}): EngineConfig {
  const e = calibration.engine;
  const c = calibration.coefficients;
  return {
    blockSize: e.blockSize,
    numGpuBlocks: e.numGpuBlocks,
    maxNumSeqs: e.maxNumSeqs,
    maxNumBatchedTokens: e.maxNumBatchedTokens,
    maxModelLen: e.maxModelLen,
    maxLoras: e.maxLoras,
    loraLoadSeconds: e.loraLoadMs / 1000,
    step: { b0: c.b0.value, b1: c.b1.value, b2: c.b2.value, b3: c.b3.value, b4: c.b4?.value ?? 0 },
    ...overrides,
  };
}
