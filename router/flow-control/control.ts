// The seam between request handling (server, picking, proxy) and flow control (auth, limits, fair queue,
// shedding). The server calls one FlowControl per request; implementations live in their own modules.

export interface FlowRequest {
  /** Request id, also returned to the client. */
  id: string;
  /** Tenant: from the API key when auth is on, else the `user` header (AIBrix semantics). */
  user?: string;
  /** Raw `Authorization` header value, when present. */
  authorization?: string;
  model: string;
  /** Prompt tokens, counted with the shared tokenizer approximation. */
  promptTokens: number;
  /** Upper bound on completion tokens (`max_tokens`), when the request sets one. */
  maxTokens?: number;
  /** Integer priority (higher = more important); criticality classes map onto it. */
  priority?: number;
  /** `requestsPerSecond` of the model's config profile chosen for this request; the limits config's own wins. */
  profileRps?: number;
  headers: Record<string, string | string[] | undefined>;
}

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** Held for the life of an admitted request. */
export interface FlowTicket {
  /** The user the request was charged to (after auth). */
  user?: string;
  /** Optional response headers for the client (remaining quota: `x-ratelimit-remaining-requests`, …). */
  headers?: Record<string, string>;
  /** Completion tokens seen so far on the stream (incremental). */
  onCompletionTokens(count: number): void;
  /** Called exactly once when the request ends, with the engine's `usage` when it reported one. */
  finish(outcome: { status: number; usage?: TokenUsage }): void;
}

export interface FlowRejection {
  status: number;
  headers: Record<string, string>;
  error: { message: string; type: string; code: string; param?: string | null };
}

export type FlowDecision = { ok: true; ticket: FlowTicket } | { ok: false; rejection: FlowRejection };

/** One engine endpoint as flow control sees it (a structural subset of the router's endpoint view). */
export interface FleetEndpointState {
  /** Engine queue depth from the last scrape (undefined: never scraped). */
  waiting?: number;
  /** KV-cache usage 0..1 from the last scrape. */
  kvUsage?: number;
  /** Requests the router has in flight there right now. */
  inFlight: number;
  /** Metrics too old to trust: such an endpoint counts as saturated. */
  stale: boolean;
  ejected: boolean;
}

/** Read-only per-model fleet state, used to detect saturation (queue by priority, shed the lowest class). */
export interface FlowFleetView {
  endpoints(model: string): readonly FleetEndpointState[];
}

export interface FlowControl {
  /** May wait (fair queue); must honour `signal` (client went away) by rejecting promptly. */
  acquire(req: FlowRequest, signal: AbortSignal): Promise<FlowDecision>;
  /**
   * True when every request is let through at once (no auth, limits or queue): nothing waits, so the server makes
   * no abort signal per request, and says that a config profile's requestsPerSecond is not enforced.
   */
  readonly passesAll?: boolean;
  /**
   * Optional: the server hands over its live fleet view once it has one. Without it, saturation is judged only by
   * configured per-model concurrency limits.
   */
  attachFleet?(view: FlowFleetView): void;
  close(): Promise<void>;
}

/** Flow control that lets everything through: the embedded default when no limits are configured. */
export const passAll: FlowControl = {
  passesAll: true,
  async acquire(req) {
    return { ok: true, ticket: { user: req.user, onCompletionTokens() {}, finish() {} } };
  },
  async close() {},
};
