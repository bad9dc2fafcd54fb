// The aggregated metrics APIs: `resource` (metrics.k8s.io: a pod's CPU in millicores or memory in bytes, summed
// over its containers), `custom` (custom.metrics.k8s.io, one value per pod) and `external` without an endpoint
// (external.metrics.k8s.io, one cluster-wide value: the sum of the series the adapter returns).
import type { MetricSource } from "../../../api/kinds/pod-autoscaler.js";
import { parseQuantity } from "./quantity.js";
import type { SourceContext, SourceReading } from "./types.js";

export interface ApiReader {
  get<T>(path: string): Promise<T>;
}

interface PodMetrics {
  metadata?: { name?: string };
  containers?: { usage?: Record<string, string> }[];
}

interface MetricValue {
  describedObject?: { name?: string };
  value?: string;
}

const ns = (namespace: string) => `namespaces/${encodeURIComponent(namespace)}`;
const query = (selector: string) => (selector ? `?labelSelector=${encodeURIComponent(selector)}` : "");

/** Values for the context's pods; a pod the API did not report on is missing. */
function byPod(ctx: SourceContext, reported: Map<string, number | undefined>): SourceReading {
  const values = new Map<string, number | undefined>();
  for (const pod of ctx.pods) {
    const name = pod.metadata?.name ?? "";
    values.set(name, reported.get(name));
  }
  return { kind: "pods", values };
}

export async function readResourceMetric(
  api: ApiReader,
  source: MetricSource,
  ctx: SourceContext,
): Promise<SourceReading> {
  const list = await api.get<{ items?: PodMetrics[] }>(
    `/apis/metrics.k8s.io/v1beta1/${ns(ctx.namespace)}/pods${query(ctx.selector)}`,
  );
  const reported = new Map<string, number | undefined>();
  for (const item of list.items ?? []) {
    let sum: number | undefined = 0;
    for (const c of item.containers ?? []) {
      const v = parseQuantity(c.usage?.[source.targetMetric]);
      sum = v === undefined || sum === undefined ? undefined : sum + v;
    }
    // CPU is compared in millicores (a targetValue of "500" is half a core), memory in bytes.
    if (sum !== undefined && source.targetMetric === "cpu") sum *= 1000;
    reported.set(item.metadata?.name ?? "", sum);
  }
  return byPod(ctx, reported);
}

export async function readCustomMetric(
  api: ApiReader,
  source: MetricSource,
  ctx: SourceContext,
): Promise<SourceReading> {
  const list = await api.get<{ items?: MetricValue[] }>(
    `/apis/custom.metrics.k8s.io/v1beta1/${ns(ctx.namespace)}/pods/*/${encodeURIComponent(source.targetMetric)}` +
      query(ctx.selector),
  );
  const reported = new Map<string, number | undefined>();
  for (const item of list.items ?? []) reported.set(item.describedObject?.name ?? "", parseQuantity(item.value));
  return byPod(ctx, reported);
}

export async function readExternalApiMetric(
  api: ApiReader,
  source: MetricSource,
  ctx: SourceContext,
): Promise<SourceReading> {
  const list = await api.get<{ items?: MetricValue[] }>(
    `/apis/external.metrics.k8s.io/v1beta1/${ns(ctx.namespace)}/${encodeURIComponent(source.targetMetric)}`,
  );
  const values = (list.items ?? []).map((i) => parseQuantity(i.value));
  if (values.length === 0 || values.some((v) => v === undefined)) return { kind: "total", value: undefined };
  return { kind: "total", value: (values as number[]).reduce((a, b) => a + b, 0) };
}
