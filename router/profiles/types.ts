// The profile document a model's pods carry in the `model.aibrix.ai/config` annotation (or a static endpoint's
// `config` field): named routing profiles a request picks with the `config-profile` header.

/** Conditions under which a profile is chosen for a request that names none (all given bounds must hold). */
export interface ConfigProfileMatch {
  promptTokensGte?: number;
  promptTokensLt?: number;
  maxTokensGte?: number;
  maxTokensLt?: number;
}

export interface ConfigProfile {
  /** Strategy name or weighted list, used when the request sends no `routing-strategy` header. */
  routingStrategy: string;
  /** Strategy settings; carried as given. */
  routingConfig?: Record<string, unknown>;
  /**
   * Requests per second for the model while this profile is chosen, across replicas (flow control's per-model
   * RPS limit; a rate the flow-control config sets for the model wins).
   */
  requestsPerSecond?: number;
  match?: ConfigProfileMatch;
}

export interface ConfigProfileDoc {
  /** Overrides every other source of the strategy, the request's header included. */
  lockedRoutingStrategy?: string;
  /** Profile used when the request names none (or an unknown one); else "default". */
  defaultProfile?: string;
  profiles: Record<string, ConfigProfile>;
}
