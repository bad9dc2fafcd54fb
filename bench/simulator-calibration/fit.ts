// Fits each engine calibration's b0, b1, b2 to its published figures by running the engine model (b3 stays physical:
// KV bytes per token / memory bandwidth). Run: `npx tsx bench/simulator-calibration/fit.ts [calibration ...]`; rewrites
// simulator/calibrations.json. b0+b2 (+b3·context) matches the single-request ITL, b0+b1·L the single-request TTFT, and
// b2 is searched (bisection) so the simulated saturation throughput matches its figure.
import { readFileSync, writeFileSync } from "node:fs";
import { engineConfigFor, type CalibrationFigure, type EngineCalibration } from "../../simulator/calibrations.js";
import { measureFigure } from "./measure.js";

const file = new URL("../../simulator/calibrations.json", import.meta.url);
const doc = JSON.parse(readFileSync(file, "utf8")) as { comment: string; calibrations: EngineCalibration[] };

function fig(p: EngineCalibration, metric: CalibrationFigure["metric"]): CalibrationFigure {
  const f = p.figures.find((x) => x.metric === metric);
  if (!f) throw new Error(`${p.name}: no ${metric} figure`);
  return f;
}

// Optional arguments: the names of the calibrations to refit (default: all).
const only = process.argv.slice(2);
for (const p of doc.calibrations) {
  if (only.length > 0 && !only.includes(p.name)) continue;
  const ttft = fig(p, "ttft_ms");
  const itl = fig(p, "itl_ms");
  const thr = fig(p, "output_tok_s");
  const b3 = (): number => p.coefficients.b3.value;
  // Mean context read during the ITL measurement: prompt plus half the output.
  const itlCtx = itl.promptTokens + itl.outputTokens / 2;
  const set = (b2: number) => {
    const b0 = itl.value / 1000 - b2 - b3() * itlCtx;
    const b1 = (ttft.value / 1000 - b0) / ttft.promptTokens;
    p.coefficients.b0.value = b0;
    p.coefficients.b1.value = b1;
    p.coefficients.b2.value = b2;
    return engineConfigFor(p);
  };
  const c = p.coefficients;
  const physicalB3 = c.b3.value;
  let lo = 0;
  let hi = itl.value / 1000 - b3() * itlCtx;
  const thrAt = (b2: number) => measureFigure(set(b2), thr);
  let reached = thrAt(lo);
  let b2: number;
  if (reached < thr.value) {
    // Even free decode tokens are too slow: the physical KV-read term over-charges this shape; scale it down.
    let sLo = 0;
    let sHi = 1;
    for (let i = 0; i < 10; i++) {
      const mid = (sLo + sHi) / 2;
      c.b3.value = physicalB3 * mid;
      if (thrAt(0) > thr.value) sLo = mid;
      else sHi = mid;
    }
    c.b3.value = physicalB3 * sLo;
    c.b3.fittedTo = [thr.id];
    c.b3.note += `; scaled by ${sLo.toFixed(3)} (from ${physicalB3.toExponential(3)}) so the saturation figure is reachable`;
    b2 = 0;
  } else {
    for (let i = 0; i < 12; i++) {
      const mid = (lo + hi) / 2;
      reached = thrAt(mid);
      if (reached > thr.value) lo = mid;
      else hi = mid;
    }
    b2 = (lo + hi) / 2;
  }
  const cfg = set(b2);
  c.b0.fittedTo = [itl.id];
  c.b0.note = `single-request ITL ${itl.value} ms = b0 + b2 + b3*${itlCtx} context tokens`;
  c.b1.fittedTo = [ttft.id];
  c.b1.note = `single-request TTFT ${ttft.value} ms for ${ttft.promptTokens} prompt tokens = b0 + b1*${ttft.promptTokens}`;
  c.b2.fittedTo = [thr.id, itl.id];
  c.b2.note =
    b2 > 0
      ? `bisection so the simulated saturation throughput (${thr.promptTokens}/${thr.outputTokens}) matches ${thr.value} tok/s`
      : `0: with the physical KV-read term the saturation figure (${thr.value} tok/s) was out of reach even at b2 = 0, so b3 was scaled instead`;
  const got = p.figures.map((f) => `${f.id}=${measureFigure(cfg, f).toFixed(2)}/${f.value}`).join(" ");
  console.error(
    `${p.name}: b0=${(c.b0.value * 1e3).toFixed(3)}ms b1=${(c.b1.value * 1e6).toFixed(2)}us b2=${(c.b2.value * 1e6).toFixed(2)}us b3=${(b3() * 1e9).toFixed(1)}ns  ${got}`,
  );
}
writeFileSync(file, JSON.stringify(doc, null, 2) + "\n");
