// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules: a candidate takes the lease when it
// is free or its holder has not renewed it for a lease duration *as observed on the candidate's own clock* (no
// trust in other machines' clocks); the leader renews every retry period and gives up leadership when it cannot
// renew within the renew deadline; a leader that stops cleanly releases the lease so a standby takes over at once.
import { setTimeout as sleep } from "node:timers/promises";
import { microTime } from "./events.js";
import { isConflict, isNotFound, type KubeClient } from "./request.js";

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long a lease stays valid without renewal (default 15 s, client-go's). */
  leaseDurationMs?: number;
  /** How long a leader keeps trying to renew before it gives up (default 10 s). */
  renewDeadlineMs?: number;
  /** Pause between attempts (default 2 s). */
  retryPeriodMs?: number;
  onStartedLeading(): void | Promise<void>;
  /** Leadership was lost (renewal failed past the deadline): stop acting at once. Not called after `stop()`. */
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
  onError?(err: Error): void;
}

export class LeaderElector {
  private observed?: { record: string; at: number };
  private leading = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  private get path(): string {
    const { namespace, name } = this.opts;
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`;
  }

  private get durationMs(): number {
    return this.opts.leaseDurationMs ?? 15_000;
  }

  run(): void {
    this.loop ??= this.campaign();
  }

  /** Stops campaigning; a leader releases the lease (holder emptied, duration 1 s) so a standby need not wait. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.client.get<Lease>(this.path);
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      const now = microTime(new Date());
      await this.client.replace(this.path, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
      });
    } catch (err) {
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms * (this.leading ? 1 : 1 + Math.random() * 0.2), undefined, { signal: this.abort.signal }).catch(
      () => undefined,
    );
  }

  private async campaign(): Promise<void> {
    const retry = this.opts.retryPeriodMs ?? 2_000;
    const deadline = this.opts.renewDeadlineMs ?? 10_000;
    let lastRenew = 0;
    while (!this.stopped) {
      const ok = await this.tryAcquireOrRenew().catch((err: unknown) => {
        this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
        return false;
      });
      if (this.stopped) return;
      if (ok) {
        lastRenew = Date.now();
        if (!this.leading) {
          this.leading = true;
          // Not awaited: renewals must go on while the new leader's caches sync.
          void Promise.resolve(this.opts.onStartedLeading()).catch((err: unknown) =>
            this.opts.onError?.(err instanceof Error ? err : new Error(String(err))),
          );
        }
      } else if (this.leading && Date.now() - lastRenew > deadline) {
        this.leading = false;
        this.opts.onStoppedLeading();
      }
      await this.pause(retry);
    }
  }

  /** One attempt; true when we hold the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const mine: LeaseSpec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.max(1, Math.round(this.durationMs / 1000)),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(this.path, { timeoutMs: this.opts.retryPeriodMs ?? 2_000 });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.client.create(this.path.replace(/\/[^/]+$/, ""), {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: mine,
        });
      } catch (e) {
        if (isConflict(e)) return false; // another candidate created it first
        throw e;
      }
      this.observe(mine);
      this.opts.onNewLeader?.(this.opts.identity);
      return true;
    }
    const spec = lease.spec ?? {};
    this.observe(spec);
    const holder = spec.holderIdentity ?? "";
    const heldByOther = holder !== "" && holder !== this.opts.identity;
    const validForMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (heldByOther && this.observed!.at + validForMs > Date.now()) return false;
    const next: LeaseSpec =
      holder === this.opts.identity
        ? { ...spec, renewTime: mine.renewTime, leaseDurationSeconds: mine.leaseDurationSeconds }
        : { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + (holder ? 1 : 0) };
    try {
      await this.client.replace(this.path, { ...lease, spec: next });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    if (holder !== this.opts.identity) this.opts.onNewLeader?.(this.opts.identity);
    this.observe(next);
    return true;
  }

  /** Remembers when the lease record last changed, on our clock. */
  private observe(spec: LeaseSpec): void {
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.acquireTime, spec.leaseDurationSeconds]);
    if (this.observed?.record !== record) {
      if (this.observed && spec.holderIdentity && spec.holderIdentity !== this.opts.identity) {
        this.opts.onNewLeader?.(spec.holderIdentity);
      }
      this.observed = { record, at: Date.now() };
    }
  }
}
