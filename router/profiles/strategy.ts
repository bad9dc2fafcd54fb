// Which picking pipeline serves a request. Precedence: the model's profile document `lockedRoutingStrategy` > the
// request's `routing-strategy` header > the chosen config profile's `routingStrategy` > the router's default.
// A bad strategy in a document is logged once and skipped (the pods' annotation must not break routing); a bad
// header is the client's error (StrategyError → 400).
import type { IncomingHttpHeaders } from "node:http";
import { countTokens } from "../../api/tokens.js";
import type { Endpoint } from "../endpoints/endpoints.js";
import { StrategyError, type PipelineCatalog } from "../picking/pipelines.js";
import type { Pipeline } from "../picking/types.js";
import { promptTextOf } from "../prompts/prompt.js";
import { selectConfigProfile, type RequestFacts } from "./config-profile.js";
import type { ConfigProfileDoc } from "./types.js";

export interface StrategyChoice {
  pipeline: Pipeline;
  /** Name of the config profile chosen (for the `x-aibrix-config-profile` response header). */
  configProfile?: string;
  /** That config profile's per-model request rate limit. */
  requestsPerSecond?: number;
}

export class StrategySelector {
  /** Per pool (rebuilt by the registry on every change): the model's profile document, or null. */
  private docs = new WeakMap<readonly Endpoint[], ConfigProfileDoc | null>();
  private warned = new Set<string>();

  constructor(
    private readonly catalog: PipelineCatalog,
    private readonly fallback: Pipeline,
    private readonly warn: (message: string) => void = () => {},
  ) {}

  /** The first endpoint's document that has one (every pod of a model normally carries the same). */
  docFor(pool: readonly Endpoint[]): ConfigProfileDoc | undefined {
    let doc = this.docs.get(pool);
    if (doc === undefined) {
      doc = pool.find((ep) => ep.spec.config)?.spec.config ?? null;
      this.docs.set(pool, doc);
    }
    return doc ?? undefined;
  }

  /** Throws `StrategyError` only for a bad `routing-strategy` header. */
  choose(
    pool: readonly Endpoint[],
    headers: IncomingHttpHeaders,
    path: string,
    body: Record<string, unknown>,
  ): StrategyChoice {
    const header = headers["routing-strategy"];
    const doc = this.docFor(pool);
    if (!doc) {
      return { pipeline: typeof header === "string" && header !== "" ? this.catalog.resolve(header) : this.fallback };
    }
    const requested = headers["config-profile"];
    const chosen = selectConfigProfile(
      doc,
      typeof requested === "string" ? requested.trim() : undefined,
      factsOf(path, body),
    );
    const of = (pipeline: Pipeline): StrategyChoice => ({
      pipeline,
      configProfile: chosen?.name,
      ...(chosen?.profile.requestsPerSecond !== undefined && { requestsPerSecond: chosen.profile.requestsPerSecond }),
    });
    if (doc.lockedRoutingStrategy) {
      const locked = this.fromDocument(doc.lockedRoutingStrategy, "lockedRoutingStrategy");
      if (locked) return of(locked);
    }
    if (typeof header === "string" && header !== "") return of(this.catalog.resolve(header));
    if (chosen) {
      const own = this.fromDocument(chosen.profile.routingStrategy, `profiles.${chosen.name}.routingStrategy`);
      if (own) return of(own);
    }
    return of(this.fallback);
  }

  private fromDocument(expr: string, field: string): Pipeline | undefined {
    try {
      return this.catalog.resolve(expr);
    } catch (err) {
      if (!(err instanceof StrategyError)) throw err;
      const key = `${field}\u0000${expr}`;
      if (!this.warned.has(key)) {
        if (this.warned.size > 1000) this.warned.clear();
        this.warned.add(key);
        this.warn(`config profile ${field}: ${err.message}; ignoring it`);
      }
      return undefined;
    }
  }
}

function factsOf(path: string, body: Record<string, unknown>): RequestFacts {
  const max = typeof body.max_tokens === "number" ? body.max_tokens : body.max_completion_tokens;
  let tokens: number | undefined;
  return {
    maxTokens: typeof max === "number" ? max : undefined,
    promptTokens: () => (tokens ??= countTokens(promptTextOf(path, body))),
  };
}
