// least-busy-time: the engine idle most often recently.
import { lowerMetric } from "./lower-metric.js";
import { fixedScorer } from "../plugin.js";

/** Busy time: share of recent scrapes in which the engine was running something (EWMA). */
export const leastBusyTime = lowerMetric("least-busy-time", (ep) => ep.busyRatio);

export const plugin = fixedScorer(leastBusyTime, "engine busy in the fewest recent scrapes");
