// Per-user RPM and TPM, per-model RPS and concurrency, over sliding windows in the limit backend.
//
// TPM counts real tokens: the prompt (counted by the router) plus the completion's max_tokens are reserved on
// flowControl, so several replicas cannot jointly overshoot; completion tokens are charged as they stream once they
// exceed the reservation; at the end everything is reconciled with the engine's `usage` and the unused part of the
// reservation is refunded into the bucket it was taken from.
import type { LimitBackend, Stores } from "./backend.js";
import type { WindowSpec } from "./window-store.js";

export interface ModelLimits {
  /** Requests per second across all replicas. */
  rps?: number;
  /** Requests in flight across all replicas; beyond it requests wait in the fair queue. */
  concurrency?: number;
}

export interface LimitsConfig {
  /** RPM/TPM window (60 000 = per minute; shorter only for tests and quick benchmarks). */
  userWindowMs: number;
  /** Sub-buckets per user window. */
  userSlices: number;
  models: Record<string, ModelLimits>;
  /** Limits for models not listed in `models`. */
  defaultModel: ModelLimits;
  /** Concurrency leases expire after this long even if never released (a replica died mid-request). */
  leaseMs: number;
}

export const defaultLimitsConfig: LimitsConfig = {
  userWindowMs: 60_000,
  userSlices: 60,
  models: {},
  defaultModel: {},
  leaseMs: 10 * 60_000,
};

const RPS_WINDOW: WindowSpec = { windowMs: 1000, slices: 10 };

export type LimitName = "rpm" | "tpm" | "model-rps";

export interface LimitHit {
  limit: LimitName;
  max: number;
  used: number;
  retryAfterMs: number;
  /** What this request needed (tokens for TPM), when it alone exceeds the limit. */
  needed?: number;
}

export interface UserCharge {
  rpmBucket: number;
  tpmBucket: number;
  /** Tokens charged on entry (prompt + reserved completion). */
  reserved: number;
  rpmRemaining?: number;
  tpmRemaining?: number;
}

export class RateLimiter {
  readonly userSpec: WindowSpec;

  constructor(
    private readonly backend: LimitBackend,
    private readonly config: LimitsConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.userSpec = { windowMs: config.userWindowMs, slices: config.userSlices };
  }

  modelLimits(model: string): ModelLimits {
    return this.config.models[model] ?? this.config.defaultModel;
  }

  /**
   * Per-model RPS; returns the hit limit or undefined, and a token to undo the charge. `profileRps` (the model's
   * config profile's `requestsPerSecond`) applies where the limits config names no rate for this model.
   */
  async takeModelRps(model: string, profileRps?: number): Promise<LimitHit | { bucket: number } | undefined> {
    // `defaultModel` is for models `models` does not list; a listed model without a rate has none of its own.
    const listed = this.config.models[model];
    const rps = listed ? (listed.rps ?? profileRps) : (profileRps ?? this.config.defaultModel.rps);
    if (rps === undefined) return undefined;
    return this.backend.run(async (s) => {
      const r = await s.windows.hit(`model-rps:${model}`, RPS_WINDOW, rps, 1, this.now());
      if (!r.allowed) return { limit: "model-rps", max: rps, used: r.used, retryAfterMs: r.retryAfterMs } as LimitHit;
      return { bucket: r.bucket };
    });
  }

  async refundModelRps(model: string, bucket: number): Promise<void> {
    await this.backend.runQuietly((s) => s.windows.add(`model-rps:${model}`, RPS_WINDOW, -1, this.now(), bucket));
  }

  /** Checks and charges RPM (1) and TPM (`reserve` tokens) for `user` as one entry; nothing charged on a hit. */
  async takeUser(
    user: string,
    rpm: number | null,
    tpm: number | null,
    reserve: number,
  ): Promise<{ ok: true; charge: UserCharge } | { ok: false; hit: LimitHit }> {
    return this.backend.run(async (s) => {
      const charge: UserCharge = { rpmBucket: -1, tpmBucket: -1, reserved: 0 };
      if (rpm !== null) {
        const r = await s.windows.hit(`rpm:${user}`, this.userSpec, rpm, 1, this.now());
        if (!r.allowed)
          return { ok: false, hit: { limit: "rpm", max: rpm, used: r.used, retryAfterMs: r.retryAfterMs } };
        charge.rpmBucket = r.bucket;
        charge.rpmRemaining = Math.max(0, rpm - r.used);
      }
      if (tpm !== null) {
        const r = await s.windows.hit(`tpm:${user}`, this.userSpec, tpm, reserve, this.now());
        if (!r.allowed) {
          if (rpm !== null) await this.undoRpm(s, user, charge.rpmBucket);
          const retryAfterMs = reserve > tpm ? this.userSpec.windowMs : r.retryAfterMs;
          const hit: LimitHit = { limit: "tpm", max: tpm, used: r.used, retryAfterMs };
          if (reserve > tpm) hit.needed = reserve;
          return { ok: false, hit };
        }
        charge.tpmBucket = r.bucket;
        charge.reserved = reserve;
        charge.tpmRemaining = Math.max(0, tpm - r.used);
      }
      return { ok: true, charge };
    });
  }

  /** Gives back an entry that never reached an engine (shed, timed out, client left). */
  async refundUser(user: string, charge: UserCharge): Promise<void> {
    await this.backend.runQuietly(async (s) => {
      if (charge.rpmBucket >= 0) await this.undoRpm(s, user, charge.rpmBucket);
      if (charge.tpmBucket >= 0 && charge.reserved > 0) {
        await s.windows.add(`tpm:${user}`, this.userSpec, -charge.reserved, this.now(), charge.tpmBucket);
      }
    });
  }

  /** Adds tokens beyond the reservation (now), or refunds the unused reservation (into the bucket it was charged to). */
  async adjustTokens(user: string, delta: number, bucket: number): Promise<void> {
    if (delta === 0) return;
    await this.backend.runQuietly((s) =>
      s.windows.add(`tpm:${user}`, this.userSpec, delta, this.now(), delta < 0 ? bucket : -1),
    );
  }

  async acquireConcurrency(model: string, id: string): Promise<boolean> {
    const limit = this.modelLimits(model).concurrency;
    if (limit === undefined) return true;
    return this.backend.run((s) => s.leases.acquire(`model:${model}`, limit, this.config.leaseMs, id));
  }

  async releaseConcurrency(model: string, id: string): Promise<void> {
    if (this.modelLimits(model).concurrency === undefined) return;
    await this.backend.runQuietly((s) => s.leases.release(`model:${model}`, id));
  }

  private async undoRpm(s: Stores, user: string, bucket: number): Promise<void> {
    await s.windows.add(`rpm:${user}`, this.userSpec, -1, this.now(), bucket);
  }
}
