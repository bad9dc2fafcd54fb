// The picking plugins as `aibrix-ts router --help` lists them, with what every pipeline gets besides its own.
import { PICKERS } from "./pickers.js";
import { PIPELINE_DEFAULTS } from "./pipelines.js";
import { FILTER_PLUGINS, SCORER_PLUGINS } from "./registry.js";

export function pickingHelp(): string {
  const width = Math.max(...SCORER_PLUGINS.map((p) => p.name.length), ...FILTER_PLUGINS.map((p) => p.name.length));
  const line = (name: string, summary: string) => `  ${name.padEnd(width)}  ${summary}`;
  const paramsOf = (keys: string[]) => (keys.length > 0 ? ` (parameters: ${keys.join(", ")})` : "");
  const { filters, tieBreak, adapterResidency } = PIPELINE_DEFAULTS;
  return [
    "",
    "Scorers (a --strategy name, or name:weight,name:weight; pipelines in --config may set parameters):",
    ...SCORER_PLUGINS.map((p) => line(p.name, p.summary + paramsOf(Object.keys(p.parameters.properties)))),
    "Filters a pipeline may list:",
    ...FILTER_PLUGINS.map((p) => line(p.name, p.summary)),
    `Pickers: ${Object.keys(PICKERS).join(", ")} (default max-score)`,
    "Every pipeline also gets:",
    `  filters ${filters.map((f) => f.name).join(", ")} first;`,
    `  ${tieBreak.scorer.name} at weight ${tieBreak.weight} as a tie-break (unless the pipeline weighs it, or is random alone);`,
    `  ${adapterResidency.scorer.name} at weight ${adapterResidency.weight}.`,
  ].join("\n");
}
