// The reader of every metricSourceType, chosen per source.
import type { MetricSource } from "../../../api/kinds/pod-autoscaler.js";
import { readExternalEndpoint } from "./external-endpoint.js";
import { DEFAULT_HTTP_TEXT, type HttpTextOptions } from "./http-text.js";
import { readCustomMetric, readExternalApiMetric, readResourceMetric, type ApiReader } from "./metrics-apis.js";
import { readPodMetric } from "./pod-source.js";
import type { MetricReader, SourceContext, SourceReading } from "./types.js";

export type { MetricReader, SourceContext, SourceReading } from "./types.js";

export class MetricSources implements MetricReader {
  constructor(
    private readonly api: ApiReader,
    private readonly http: HttpTextOptions = DEFAULT_HTTP_TEXT,
  ) {}

  async read(source: MetricSource, ctx: SourceContext): Promise<SourceReading> {
    try {
      switch (source.metricSourceType) {
        case "pod":
          return await readPodMetric(source, ctx, this.http);
        case "resource":
          return await readResourceMetric(this.api, source, ctx);
        case "custom":
          return await readCustomMetric(this.api, source, ctx);
        case "external":
        case "domain":
          return source.endpoint
            ? await readExternalEndpoint(source, this.http)
            : await readExternalApiMetric(this.api, source, ctx);
      }
    } catch (err) {
      return { kind: "error", message: err instanceof Error ? err.message : String(err) };
    }
  }
}
