// Which profiles run for one request (the Gateway API Inference Extension's profile handler): one for most
// strategies; several where a request needs more than one endpoint, as disaggregated prefill/decode does (one
// prefill endpoint and one decode endpoint per request, each chosen by its own profile).
import { pick, type PickResult } from "./pick.js";
import type { Candidate, PickEnv, PickRequest, Profile } from "./types.js";

export interface ProfileRun {
  /** The role of the endpoint this profile chooses (e.g. "prefill", "decode"). */
  role: string;
  profile: Profile;
}

export interface ProfileHandler {
  readonly name: string;
  /** Runs the handler's profiles in order; the result has one entry per role. */
  pick<C extends Candidate>(
    req: PickRequest,
    pool: readonly C[],
    env: PickEnv,
    exclude?: ReadonlySet<C>,
  ): Map<string, PickResult<C>>;
}

/** The usual case: one profile, one endpoint (role "default"). */
export function singleProfile(profile: Profile): ProfileHandler {
  return sequentialProfiles(profile.name, [{ role: "default", profile }]);
}

/**
 * Several profiles, one after another over the same pool. A later profile does not get an endpoint an earlier one
 * chose unless nothing else is left (prefill and decode on one engine beat no answer).
 */
export function sequentialProfiles(name: string, runs: readonly ProfileRun[]): ProfileHandler {
  if (runs.length === 0) throw new Error(`profile handler ${name}: needs at least one profile`);
  const roles = new Set(runs.map((r) => r.role));
  if (roles.size !== runs.length) throw new Error(`profile handler ${name}: each role must appear once`);
  return {
    name,
    pick(req, pool, env, exclude) {
      const out = new Map<string, PickResult<(typeof pool)[number]>>();
      const taken = new Set(exclude ?? []);
      for (const { role, profile } of runs) {
        let result = pick(profile, req, pool, env, taken);
        if (!result.endpoint) result = pick(profile, req, pool, env, exclude);
        out.set(role, result);
        if (result.endpoint) taken.add(result.endpoint);
      }
      return out;
    },
  };
}
