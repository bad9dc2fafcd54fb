// metricSourceType "pod": GET protocol://podIP:port/path on every counted pod, in parallel, each bounded by the
// scrape deadline. A pod that fails or does not carry the metric is missing for this tick.
import type { MetricSource } from "../../../api/kinds/pod-autoscaler.js";
import { Model } from "../../../api/labels.js";
import { engineMetricValue } from "./engine-metric.js";
import { DEFAULT_HTTP_TEXT, fetchText, UNVERIFIED_TLS, urlHost, urlPath, type HttpTextOptions } from "./http-text.js";
import type { SourceContext, SourceReading } from "./types.js";

export async function readPodMetric(
  source: MetricSource,
  ctx: SourceContext,
  http: HttpTextOptions = DEFAULT_HTTP_TEXT,
): Promise<SourceReading> {
  const protocol = source.protocolType ?? "http";
  const values = new Map<string, number | undefined>();
  await Promise.all(
    ctx.pods.map(async (pod) => {
      const name = pod.metadata?.name ?? "";
      const ip = pod.status?.podIP;
      const engine = pod.metadata?.labels?.[Model.engine] === "sglang" ? "sglang" : "vllm";
      try {
        if (!ip) throw new Error("no pod IP");
        const url = `${protocol}://${urlHost(ip)}:${source.port ?? "8000"}${urlPath(source.path ?? "metrics")}`;
        const text = await fetchText(url, protocol === "https" ? { ...http, dispatcher: UNVERIFIED_TLS } : http);
        values.set(name, engineMetricValue(text, source.targetMetric, engine));
      } catch {
        values.set(name, undefined);
      }
    }),
  );
  return { kind: "pods", values };
}
