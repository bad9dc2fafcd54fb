// Engine profiles per (GPU type, model size): the step-time coefficients and engine limits, with the published
// figures each coefficient was fitted to (simulator/profiles.json; bench/simulator-calibration checks the fit).
import { readFileSync } from "node:fs";
import type { EngineConfig } from "./engine.js";

/** A published (or, where marked, derived) measurement a profile reproduces. */
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
}

export interface CoefficientRecord {
  value: number;
  unit: string;
  /** Ids of the figures this coefficient was fitted to, or the physical formula it comes from. */
  fittedTo: string[];
  note: string;
}

export interface Profile {
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
  coefficients: { b0: CoefficientRecord; b1: CoefficientRecord; b2: CoefficientRecord; b3: CoefficientRecord };
  figures: CalibrationFigure[];
  /** Published figures NOT used in the fit: the calibration benchmark reports how well the model extrapolates. */
  holdout?: CalibrationFigure[];
}

let cache: Map<string, Profile> | null = null;

/** All profiles from simulator/profiles.json, by name. */
export function profiles(): Map<string, Profile> {
  if (!cache) {
    const raw = JSON.parse(readFileSync(new URL("./profiles.json", import.meta.url), "utf8")) as {
      profiles: Profile[];
    };
    cache = new Map(raw.profiles.map((p) => [p.name, p]));
  }
  return cache;
}

export const DEFAULT_PROFILE = "h100-8b";

export function getProfile(name: string): Profile {
  const p = profiles().get(name);
  if (!p) {
    throw new Error(`profile: "${name}" is not a known profile; use one of ${[...profiles().keys()].join(", ")}`);
  }
  return p;
}

/** Engine configuration of a profile, with optional overrides of its limits. */
export function engineConfigFor(profile: Profile, overrides: Partial<EngineConfig> = {}): EngineConfig {
  const e = profile.engine;
  const c = profile.coefficients;
  return {
    blockSize: e.blockSize,
    numGpuBlocks: e.numGpuBlocks,
    maxNumSeqs: e.maxNumSeqs,
    maxNumBatchedTokens: e.maxNumBatchedTokens,
    maxModelLen: e.maxModelLen,
    maxLoras: e.maxLoras,
    loraLoadSeconds: e.loraLoadMs / 1000,
    step: { b0: c.b0.value, b1: c.b1.value, b2: c.b2.value, b3: c.b3.value },
    ...overrides,
  };
}
