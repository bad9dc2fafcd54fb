// Cold-prefix coalescing. An engine with prefix caching reuses only blocks it has finished computing: two requests
// that share a long prefix the engine does not hold yet, admitted close together, both compute that prefix — the
// second one's prefill is wasted work that delays everything queued behind it on that engine (a tenant's first
// burst, a new system prompt). When a request is sent to an engine that is computing the request's prefix for an
// earlier request right now, it waits until the engine's KV events report the shared blocks stored, and then arrives
// as a cache hit. The wait is bounded, and ends early when the earlier request ends or the engine goes away.
import type { KvEventBatch } from "../../engines/kv-events.js";
import type { KvBlockIndex } from "../picking/kv-index.js";

export interface PrefillCoalescingOptions {
  /** A request waits only for this many shared, not yet stored blocks or more (shorter prefixes are cheap to redo). */
  minBlocks: number;
  /** Longest wait for another request's prefill. */
  maxWaitMs: number;
}

export const defaultPrefillCoalescing: PrefillCoalescingOptions = { minBlocks: 32, maxWaitMs: 2000 };

/** How a wait ended: the engine reported the blocks, the computing request ended first, or time ran out. */
export type WaitOutcome = "stored" | "released" | "timeout";

type Waiter = (outcome: WaitOutcome) => void;

/** A request whose prefix an engine is computing: the blocks it will store, and who waits for which. */
class Prefill {
  readonly waiters = new Map<bigint, Waiter[]>();
  constructor(readonly hashes: readonly bigint[]) {}

  releaseAll(): void {
    for (const list of this.waiters.values()) for (const w of list) w("released");
    this.waiters.clear();
  }
}

export interface PrefillSlot {
  /** Resolves when the request may go (absent: go now). */
  wait?: Promise<WaitOutcome>;
  /** The request is over (answered, failed or abandoned): nobody waits on its prefill any longer. */
  leave(): void;
}

export class PrefillCoalescer {
  /** endpoint id → block hash → the request computing it there. */
  private computing = new Map<string, Map<bigint, Prefill>>();

  constructor(
    private readonly stored: KvBlockIndex,
    private readonly o: PrefillCoalescingOptions = defaultPrefillCoalescing,
  ) {}

  /**
   * Called when `hashes` (the request's full-block hashes) are about to be sent to endpoint `id`; undefined when
   * the request neither waits nor computes a prefix long enough for others to wait on.
   */
  enter(id: string, hashes: readonly bigint[]): PrefillSlot | undefined {
    const held = this.stored.matchDepths(hashes, [id]).get(id) ?? 0;
    if (hashes.length - held < this.o.minBlocks) return undefined;
    let byHash = this.computing.get(id);
    if (!byHash) this.computing.set(id, (byHash = new Map()));
    // The deepest block of this prompt that another request is computing on this engine now.
    let deepest = -1;
    let leader: Prefill | undefined;
    for (let i = hashes.length - 1; i >= held + this.o.minBlocks - 1; i--) {
      leader = byHash.get(hashes[i]!);
      if (leader) {
        deepest = i;
        break;
      }
    }
    // What this request computes itself (beyond the leader's part) may be someone else's prefix in turn.
    const own = hashes.slice(deepest + 1);
    const mine = own.length >= this.o.minBlocks ? new Prefill(own) : undefined;
    if (mine) for (const h of own) if (!byHash.has(h)) byHash.set(h, mine);
    if (!leader) return mine && { leave: () => this.end(id, mine) };
    const leave = () => (mine ? this.end(id, mine) : undefined);
    const until = hashes[deepest]!;
    const wait = new Promise<WaitOutcome>((resolve) => {
      const timer = setTimeout(() => resolve("timeout"), this.o.maxWaitMs);
      timer.unref();
      let list = leader.waiters.get(until);
      if (!list) leader.waiters.set(until, (list = []));
      list.push((outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      });
    });
    return { wait, leave };
  }

  /** The engine's KV events: blocks reported stored release whoever waits for them. */
  onBatch(id: string, batch: KvEventBatch): void {
    const byHash = this.computing.get(id);
    if (!byHash || byHash.size === 0) return;
    for (const ev of batch.events) {
      if (ev.type !== "BlockStored") continue;
      for (const h of ev.hashes) {
        const p = byHash.get(h);
        if (!p) continue;
        byHash.delete(h);
        const list = p.waiters.get(h);
        if (list) {
          p.waiters.delete(h);
          for (const w of list) w("stored");
        }
      }
    }
  }

  /** The endpoint is gone: nobody waits for it. */
  forget(id: string): void {
    const byHash = this.computing.get(id);
    if (!byHash) return;
    for (const p of new Set(byHash.values())) p.releaseAll();
    this.computing.delete(id);
  }

  /** Blocks some request is computing on endpoint `id` now (for tests and diagnostics). */
  computingBlocks(id: string): number {
    return this.computing.get(id)?.size ?? 0;
  }

  private end(id: string, p: Prefill): void {
    p.releaseAll();
    const byHash = this.computing.get(id);
    if (!byHash) return;
    for (const h of p.hashes) if (byHash.get(h) === p) byHash.delete(h);
    if (byHash.size === 0) this.computing.delete(id);
  }
}
