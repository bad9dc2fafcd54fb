// What the calibration benchmark and the fit measure for one figure of an engine calibration, on the engine model in virtual time.
import type { EngineConfig } from "../../simulator/engine.js";
import { saturationRun, singleRequest, type SaturationRun } from "../../simulator/offline.js";
import type { CalibrationFigure } from "../../simulator/calibrations.js";

/** Requests sent at once for a saturation figure: enough to keep the batch full well past the ramp. */
export function saturationCount(config: EngineConfig, quick: boolean): number {
  const n = Math.max(1000, 2 * config.maxNumSeqs);
  return quick ? Math.ceil(n / 4) : n;
}

export function measureFigure(config: EngineConfig, f: CalibrationFigure, quick = false): number {
  return measureFigureRun(config, f, quick).value;
}

/** The figure's simulated value and, for a saturation figure, the run behind it. */
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
      const saturation = saturationRun(config, f.promptTokens, f.outputTokens, saturationCount(config, quick));
      return { value: saturation.outputTokS, saturation };
    }
  }
}
