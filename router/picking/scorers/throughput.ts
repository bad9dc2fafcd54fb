// throughput: lowest recent token throughput (prompt tokens count double).
import { lowerMetric } from "./lower-metric.js";

export const throughput = lowerMetric("throughput", (ep) =>
  ep.promptTps === undefined && ep.genTps === undefined ? undefined : 2 * (ep.promptTps ?? 0) + (ep.genTps ?? 0),
);
