// queue: shortest engine queue.
import { lowerMetric } from "./lower-metric.js";
import { fixedScorer } from "../plugin.js";

/** Engine queue depth (waiting requests), GIE's queue scorer; stale → no opinion. */
export const queueScorer = lowerMetric("queue", (ep) => ep.metrics.waiting);

export const plugin = fixedScorer(queueScorer, "shortest engine queue (waiting requests)");
