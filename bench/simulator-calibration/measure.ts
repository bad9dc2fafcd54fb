// What the calibration benchmark and the fit measure for one figure of an engine calibration, on the engine model in virtual time.
import type { EngineConfig } from "../../simulator/engine.js";
import { saturationRun, singleRequest, type SaturationRun } from "../../simulator/offline.js";
import type { CalibrationFigure } from "../../simulator/calibrations.js";

/**
 * Requests sent at once for a saturation figure: the figure's own run size where it is published (TensorRT-LLM
 * sends more requests for short shapes so its engine reaches a steady state), else enough to keep the batch full
 * well past the ramp. A quarter of that with `quick`.
 */
export function saturationCount(config: EngineConfig, quick: boolean, f?: CalibrationFigure): number {
  const n = f?.requests ?? Math.max(1000, 2 * config.maxNumSeqs);
  return quick ? Math.ceil(n / 4) : n;
}

export function measureFigure(config: EngineConfig, f: CalibrationFigure, quick = false): number {
  return measureFigureRun(config, f, quick).value;
}

/** The figure's simulated value and, for a saturation figure, the run behind it (under the figure's capacity policy). */
export function measureFigureRun(
  config: EngineConfig,
  f: CalibrationFigure,
  quick = false,
): { value: number; saturation?: SaturationRun } {
  switch (f.metric) {
    case "ttft_ms":
      return { value: singleRequest(config, f.promptTokens, 1).ttftMs };
    case "itl_ms":
      return { value: singleRequest(config, f.promptTokens, f.outputTokens).itlMs };
    case "output_tok_s": {
      const cfg = f.capacityPolicy ? { ...config, capacityPolicy: f.capacityPolicy } : config;
      const saturation = saturationRun(cfg, f.promptTokens, f.outputTokens, saturationCount(config, quick, f));
      return { value: saturation.outputTokS, saturation };
    }
  }
}
