// queue: shortest engine queue.
import { lowerMetric } from "./lower-metric.js";

/** Engine queue depth (waiting requests), GIE's queue scorer; stale → no opinion. */
export const queueScorer = lowerMetric("queue", (ep) => ep.metrics.waiting);
