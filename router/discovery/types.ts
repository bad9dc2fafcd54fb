// Discovery: where endpoints come from. Two sources (a static file, Kubernetes) behind this one interface.
import type { EndpointSpec } from "../endpoints/endpoints.js";

export interface DiscoverySnapshot {
  /** Routable endpoints (ready, not terminating, with an address). */
  endpoints: EndpointSpec[];
  /** Every model name seen, routable or not (so "no ready endpoint" can be told apart from "unknown model"). */
  models: string[];
}

export interface Discovery {
  /** Start watching; `onChange` receives the full current snapshot after the initial sync and on every change. */
  start(onChange: (snapshot: DiscoverySnapshot) => void): Promise<void>;
  close(): Promise<void>;
}
