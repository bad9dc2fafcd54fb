// Every picking plugin the router can build, by name. A new scorer is a file under scorers/ that exports `plugin`,
// plus one line in SCORER_PLUGINS (docs/architecture.md walks through one).
import { Value } from "@sinclair/typebox/value";
import { FILTER_PLUGINS } from "./filters.js";
import type { FilterPlugin, PluginContext, ScorerPlugin } from "./plugin.js";
import { plugin as kvPrefix } from "./scorers/kv-prefix.js";
import { plugin as leastBusyTime } from "./scorers/least-busy-time.js";
import { plugin as leastGpuCache } from "./scorers/least-gpu-cache.js";
import { plugin as leastKvCache } from "./scorers/least-kv-cache.js";
import { plugin as leastLatency } from "./scorers/least-latency.js";
import { plugin as leastRequest } from "./scorers/least-request.js";
import { plugin as leastUtilization } from "./scorers/least-utilization.js";
import { plugin as loraAffinity } from "./scorers/lora-affinity.js";
import { plugin as powerOfTwo } from "./scorers/power-of-two.js";
import { plugin as prefixCache } from "./scorers/prefix-cache.js";
import { plugin as queue } from "./scorers/queue.js";
import { plugin as random } from "./scorers/random.js";
import { plugin as sessionAffinity } from "./scorers/session-affinity.js";
import { plugin as throughput } from "./scorers/throughput.js";
import { plugin as vtcBasic } from "./scorers/vtc-basic.js";
import type { Filter, Scorer } from "./types.js";

/** In build order: kv-prefix falls back to whichever prefix-cache serves, so that one comes first. */
export const SCORER_PLUGINS: readonly ScorerPlugin[] = [
  random,
  leastRequest,
  throughput,
  leastKvCache,
  leastGpuCache,
  leastBusyTime,
  leastUtilization,
  leastLatency,
  powerOfTwo,
  prefixCache,
  sessionAffinity,
  kvPrefix,
  queue,
  loraAffinity,
  vtcBasic,
];

export { FILTER_PLUGINS };

export class PluginError extends Error {}

/** Builds a plugin from its factory after checking `params` against its schema; errors name `where` and the rule. */
function build<T>(plugin: ScorerPlugin | FilterPlugin, params: unknown, ctx: PluginContext, where: string): T {
  const given = params ?? {};
  const problem = Value.Errors(plugin.parameters, given).First();
  if (problem) {
    const field = problem.path === "" ? "" : problem.path.replaceAll("/", ".");
    throw new PluginError(`${where}.parameters${field}: ${problem.message} (got ${JSON.stringify(problem.value)})`);
  }
  return plugin.create(given as never, ctx) as T;
}

export function buildScorer(name: string, params: unknown, ctx: PluginContext, where: string): Scorer | undefined {
  const plugin = SCORER_PLUGINS.find((p) => p.name === name);
  return plugin && build<Scorer>(plugin, params, ctx, where);
}

export function buildFilter(name: string, params: unknown, ctx: PluginContext, where: string): Filter | undefined {
  const plugin = FILTER_PLUGINS.find((p) => p.name === name);
  return plugin && build<Filter>(plugin, params, ctx, where);
}
