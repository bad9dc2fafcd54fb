// One metric's value out of an engine's Prometheus exposition, whatever the engine calls it: a vLLM name asked of
// an SGLang pod (or the reverse, or an engine-neutral `aibrix:*` name, or a name without its `vllm:` prefix as
// upstream's samples write it) is read through engines/'s name maps; any other name is read as written.
import {
  METRIC_NAMES,
  parseEngineMetrics,
  type EngineKind,
  type EngineMetrics,
} from "../../../engines/metric-names.js";
import { parsePrometheusText } from "../../../engines/prometheus.js";
import { STANDARD_RENAMES } from "../../../engines/standard-metrics.js";

type Field = Exclude<keyof EngineMetrics, "lora" | "prefixHashAlgo">;

const KINDS: readonly EngineKind[] = ["vllm", "sglang"];

function gaugeField(name: string): Field | undefined {
  for (const kind of KINDS) {
    const field = METRIC_NAMES[kind].gauges[name];
    if (field) return field;
  }
  return undefined;
}

/** The engine-neutral field a metric name stands for, or undefined for a name the maps do not know. */
export function engineField(metric: string): Field | undefined {
  const direct = gaugeField(metric) ?? gaugeField(`vllm:${metric}`) ?? gaugeField(`sglang:${metric}`);
  if (direct) return direct;
  for (const kind of KINDS) {
    for (const [engineName, standard] of Object.entries(STANDARD_RENAMES[kind])) {
      if (standard === metric) return gaugeField(engineName);
    }
  }
  return undefined;
}

/**
 * The metric's value in `text`, or undefined when the exposition does not carry it (a missing sample). A name the
 * exposition carries as written wins; series of one name are summed (data-parallel ranks).
 */
export function engineMetricValue(text: string, metric: string, engine: EngineKind): number | undefined {
  const exact = parsePrometheusText(text, (n) => n === metric);
  if (exact.length > 0) {
    const field = engineField(metric);
    // A ratio (KV-cache usage) is the fullest rank's, as engines/ reduces it; a count adds up.
    if (field === "kvUsage" || field === "cpuKvUsage" || field === "cacheHitRate")
      return Math.max(...exact.map((s) => s.value));
    return exact.reduce((sum, s) => sum + s.value, 0);
  }
  const field = engineField(metric);
  if (!field) return undefined;
  const value = parseEngineMetrics(text, engine)[field];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}
