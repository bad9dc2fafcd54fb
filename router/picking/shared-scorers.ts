// Scorers whose state is shared between router replicas when the router has Redis: vtc-basic's per-user token window
// and power-of-two's in-flight counts. Without Redis the catalog's local versions stay in place.
import { SharedInFlight, sharedPowerOfTwo } from "./shared-inflight.js";
import type { Scorer } from "./types.js";
import { RedisUserTokenWindow } from "./user-token-window.js";
import { vtcBasicScorer } from "./scorers/vtc-basic.js";

export interface SharedScorerOptions {
  redisUrl?: string;
  /** This replica's in-flight requests per endpoint id. */
  localInFlight: () => Iterable<readonly [string, number]>;
  onError?: (what: string, err: Error) => void;
}

export interface SharedScorers {
  /** Replace the catalog's local scorers of the same names. */
  scorers: Scorer[];
  close(): Promise<void>;
}

export function createSharedScorers(o: SharedScorerOptions): SharedScorers {
  if (!o.redisUrl) return { scorers: [], close: async () => {} };
  const window = new RedisUserTokenWindow({
    redisUrl: o.redisUrl,
    onError: (err) => o.onError?.("vtc-basic token window", err),
  });
  const inFlight = new SharedInFlight({
    redisUrl: o.redisUrl,
    local: o.localInFlight,
    onError: (err) => o.onError?.("power-of-two in-flight counts", err),
  });
  return {
    scorers: [vtcBasicScorer(window), sharedPowerOfTwo(inFlight)],
    async close() {
      await Promise.all([window.close(), inFlight.close()]);
    },
  };
}
