// `aibrix-ts what-if`: replay a workload trace against a simulated fleet of a given GPU mix, in virtual time, and
// report its cost, SLO attainment and latency percentiles — a recommendation checked before GPUs are bought.
import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { loadProfilesFile, type SloSpec } from "../api/gpu-profile.js";
import { percentiles, type Percentiles } from "../optimizer/profiling/cut.js";
import {
  replayFleet,
  type FleetEngine,
  type ReplayRequest,
  type ReplayResult,
  type TypeChooser,
} from "../simulator/fleet-replay.js";
import { engineConfigFor, getCalibration } from "../simulator/calibrations.js";

/** The simulator's engine calibration for each GPU type name the shipped GPU profiles use. */
export const DEFAULT_ENGINES: Record<string, string> = {
  L4: "l4-8b",
  A10G: "a10g-8b",
  L40S: "l40s-8b",
  "A100-80GB": "a100-8b",
  H100: "h100-8b",
};

export interface WhatIfReport {
  mix: Record<string, number>;
  costPerHour: number;
  requests: number;
  /** Share of requests meeting every SLO bound. */
  sloAttainment: number;
  ttft: Percentiles;
  tpot: Percentiles;
  e2e: Percentiles;
  byType: Record<string, { requests: number; sloAttainment: number }>;
}

export function meetsRequestSlo(r: ReplayResult, slo: SloSpec): boolean {
  return (
    (slo.ttft === undefined || r.ttft <= slo.ttft) &&
    (slo.tpot === undefined || r.tpot <= slo.tpot) &&
    (slo.e2e === undefined || r.e2e <= slo.e2e)
  );
}

/** Replays `trace` on `mix` (GPU type → replicas, each one simulated engine of `engines[type]`). */
export function whatIf(
  trace: readonly ReplayRequest[],
  mix: Record<string, number>,
  costs: Record<string, number>,
  slo: SloSpec,
  options: { engines?: Record<string, string>; chooseType?: TypeChooser } = {},
): WhatIfReport {
  const engines: FleetEngine[] = [];
  for (const [type, n] of Object.entries(mix)) {
    const name = options.engines?.[type] ?? DEFAULT_ENGINES[type];
    if (!name)
      throw new Error(`GPU type ${type}: no simulator engine for it; map one with --engine ${type}=<calibration>`);
    if (costs[type] === undefined) throw new Error(`GPU type ${type}: no cost in the profiles`);
    const config = engineConfigFor(getCalibration(name));
    for (let i = 0; i < n; i++) engines.push({ type, config });
  }
  const results = replayFleet(engines, trace, options.chooseType);
  const ok = results.filter((r) => meetsRequestSlo(r, slo));
  const byType: WhatIfReport["byType"] = {};
  for (const type of Object.keys(mix)) {
    const mine = results.filter((r) => r.type === type);
    byType[type] = {
      requests: mine.length,
      sloAttainment: mine.length ? mine.filter((r) => meetsRequestSlo(r, slo)).length / mine.length : 1,
    };
  }
  return {
    mix,
    costPerHour: Object.entries(mix).reduce((s, [t, n]) => s + n * costs[t]!, 0),
    requests: results.length,
    sloAttainment: results.length ? ok.length / results.length : 1,
    ttft: percentiles(results.map((r) => r.ttft)),
    tpot: percentiles(results.map((r) => r.tpot)),
    e2e: percentiles(results.map((r) => r.e2e)),
    byType,
  };
}

/** JSON lines `{"at": seconds, "input": tokens, "output": tokens}`; the error names the line and field. */
export function parseTrace(text: string, source: string): ReplayRequest[] {
  return text.split("\n").flatMap((line, i) => {
    if (!line.trim()) return [];
    const where = `${source}:${i + 1}`;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${where}: not JSON (${(err as Error).message})`, { cause: err });
    }
    for (const k of ["at", "input", "output"]) {
      const v = o[k];
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
        throw new Error(`${where}: ${k} must be a number >= 0`);
    }
    return [{ at: o.at as number, inputTokens: o.input as number, outputTokens: o.output as number }];
  });
}

function pairs(flag: string, value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (value ?? "").split(",").filter((p) => p.trim())) {
    const at = part.indexOf("=");
    if (at <= 0) throw new Error(`--${flag} ${JSON.stringify(part)}: expected TYPE=VALUE`);
    out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return out;
}

interface WhatIfFlags {
  profiles: string;
  model: string;
  mix: string;
  trace: string;
  engine?: string;
}

export function registerWhatIf(program: Command): void {
  program
    .command("what-if")
    .description("replay a trace on a simulated GPU mix in virtual time: cost, SLO attainment, latency percentiles")
    .requiredOption("--profiles <file>", "GPU profile document: costs per type and the model's SLO")
    .requiredOption("--model <name>", "model in the profile document")
    .requiredOption("--mix <list>", "replicas per GPU type, e.g. A10G=3,A100-80GB=1")
    .requiredOption("--trace <file>", 'JSON lines {"at": s, "input": tokens, "output": tokens}')
    .option(
      "--engine <list>",
      "simulator engine calibration per GPU type, e.g. A10G=a10g-8b (defaults for shipped types)",
    )
    .action(async (f: WhatIfFlags) => {
      const set = await loadProfilesFile(f.profiles);
      const model = set.doc.models[f.model];
      if (!model)
        throw new Error(`--model ${f.model}: not in ${f.profiles} (has ${Object.keys(set.doc.models).join(", ")})`);
      const slo = model.profiles.find((p) => p.slos)?.slos;
      if (!slo)
        throw new Error(`${f.profiles}: model ${f.model} has no profile with slos; profile it with an SLO first`);
      const costs = Object.fromEntries(model.profiles.map((p) => [p.gpu, p.cost]));
      const mix: Record<string, number> = {};
      for (const [type, n] of Object.entries(pairs("mix", f.mix))) {
        const count = Number(n);
        if (!Number.isInteger(count) || count < 0)
          throw new Error(`--mix ${type}=${n}: replicas must be a whole number`);
        mix[type] = count;
      }
      const trace = parseTrace(await readFile(f.trace, "utf8"), f.trace);
      const report = whatIf(trace, mix, costs, slo, { engines: pairs("engine", f.engine) });
      console.log(JSON.stringify(report, null, 1));
    });
}
