// Which pipelines run for one request (the Gateway API Inference Extension's profile
// handler, which runs its scheduling profiles): one for most
// strategies; several where a request needs more than one endpoint, as disaggregated prefill/decode does (one
// prefill endpoint and one decode endpoint per request, each chosen by its own pipeline).
import { pick, type PickResult } from "./pick.js";
import type { Candidate, PickEnv, PickRequest, Pipeline } from "./types.js";

export interface PipelineRun {
  /** The role of the endpoint this pipeline chooses (e.g. "prefill", "decode"). */
  role: string;
  pipeline: Pipeline;
}

export interface PipelineHandler {
  readonly name: string;
  /** Runs the handler's pipelines in order; the result has one entry per role. */
  pick<C extends Candidate>(
    req: PickRequest,
    pool: readonly C[],
    env: PickEnv,
    exclude?: ReadonlySet<C>,
  ): Map<string, PickResult<C>>;
}

/** The usual case: one pipeline, one endpoint (role "default"). */
export function singlePipeline(pipeline: Pipeline): PipelineHandler {
  return sequentialPipelines(pipeline.name, [{ role: "default", pipeline }]);
}

/**
 * Several pipelines, one after another over the same pool. A later pipeline does not get an endpoint an earlier one
 * chose unless nothing else is left (prefill and decode on one engine beat no answer).
 */
export function sequentialPipelines(name: string, runs: readonly PipelineRun[]): PipelineHandler {
  if (runs.length === 0) throw new Error(`pipeline handler ${name}: needs at least one pipeline`);
  const roles = new Set(runs.map((r) => r.role));
  if (roles.size !== runs.length) throw new Error(`pipeline handler ${name}: each role must appear once`);
  return {
    name,
    pick(req, pool, env, exclude) {
      const out = new Map<string, PickResult<(typeof pool)[number]>>();
      const taken = new Set(exclude ?? []);
      for (const { role, pipeline } of runs) {
        let result = pick(pipeline, req, pool, env, taken);
        if (!result.endpoint) result = pick(pipeline, req, pool, env, exclude);
        out.set(role, result);
        if (result.endpoint) taken.add(result.endpoint);
      }
      return out;
    },
  };
}
