// throughput: lowest recent token throughput (prompt tokens count double).
import { lowerMetric } from "./lower-metric.js";
import { fixedScorer } from "../plugin.js";

export const throughput = lowerMetric("throughput", (ep) =>
  ep.promptTps === undefined && ep.genTps === undefined ? undefined : 2 * (ep.promptTps ?? 0) + (ep.genTps ?? 0),
);

export const plugin = fixedScorer(throughput, "lowest recent token throughput (prompt tokens count double)");
