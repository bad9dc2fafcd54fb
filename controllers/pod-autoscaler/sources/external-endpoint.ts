// metricSourceType "external" (and its deprecated alias "domain") with an endpoint: GET protocol://endpoint/path
// returns one cluster-wide value — the GPU optimizer's `vllm:deployment_replicas`, say. The body may be Prometheus
// text (series of the target metric are summed), a JSON number, or a JSON object holding the metric or `value`.
import type { MetricSource } from "../../../api/kinds/pod-autoscaler.js";
import { parsePrometheusText } from "../../../engines/prometheus.js";
import { DEFAULT_HTTP_TEXT, fetchText, urlPath, type HttpTextOptions } from "./http-text.js";
import type { SourceReading } from "./types.js";

function fromJson(body: unknown, metric: string): number | undefined {
  if (typeof body === "number") return body;
  if (body && typeof body === "object") {
    const record = body as Record<string, unknown>;
    const v = record[metric] ?? record.value;
    if (typeof v === "number") return v;
    if (typeof v === "string" && v.trim() !== "") return Number(v);
  }
  return undefined;
}

/** The value in an endpoint's answer, or undefined when it does not carry the metric. */
export function externalValue(text: string, metric: string): number | undefined {
  const trimmed = text.trim();
  let value: number | undefined;
  if (trimmed.startsWith("{") || /^[-+\d.]/.test(trimmed)) {
    try {
      value = fromJson(JSON.parse(trimmed) as unknown, metric);
    } catch {
      value = undefined;
    }
  }
  if (value === undefined) {
    const samples = parsePrometheusText(text, (n) => n === metric);
    if (samples.length > 0) value = samples.reduce((sum, s) => sum + s.value, 0);
  }
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

export async function readExternalEndpoint(
  source: MetricSource,
  http: HttpTextOptions = DEFAULT_HTTP_TEXT,
): Promise<SourceReading> {
  const url = `${source.protocolType ?? "http"}://${source.endpoint ?? ""}${urlPath(source.path)}`;
  try {
    return { kind: "total", value: externalValue(await fetchText(url, http), source.targetMetric) };
  } catch {
    return { kind: "total", value: undefined };
  }
}
