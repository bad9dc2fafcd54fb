// A per-model fair queue in front of saturated models.
//
// Work-conserving: a request goes straight through whenever its model has capacity (the gate says yes) and nobody is
// waiting; only when capacity runs out do requests wait. Waiting requests leave in order of priority (higher first),
// then, within a priority, by the virtual token counter of their user (VTC, Sheng et al., OSDI'24: least-served user
// first; cost = inputWeight·prompt + outputWeight·completion, input charged at dispatch, output as it streams). A
// user who becomes backlogged has the counter lifted to the smallest counter among backlogged users (or to the last
// served user's when nobody waits), so time spent idle cannot be banked and later spent starving others.
// The FCFS policy (arrival order within a priority) exists as the baseline for the fairness benchmark.
import type { VtcCounters } from "./vtc-counters.js";
import { isSheddable } from "./priority.js";

export type QueuePolicy = "vtc" | "fcfs";

export interface FairQueueOptions {
  policy: QueuePolicy;
  /** VTC weight of a prompt token (default 1). */
  inputWeight: number;
  /** VTC weight of a completion token (default 2). */
  outputWeight: number;
  /** Most requests waiting per model; beyond it the lowest priority is shed. */
  maxQueued: number;
  /** Longest a request may wait before it is refused. */
  maxWaitMs: number;
  /** How often a blocked queue re-asks its gate when nothing finishes (capacity freed elsewhere, new metrics). */
  retryMs: number;
}

export const defaultFairQueueOptions: FairQueueOptions = {
  policy: "vtc",
  inputWeight: 1,
  outputWeight: 2,
  maxQueued: 10_000,
  maxWaitMs: 60_000,
  retryMs: 20,
};

/** Capacity for one model: concurrency leases and/or fleet saturation. */
export interface CapacityGate {
  /** Takes capacity for one request of `model` (id = request id); false = none free now. */
  tryAcquire(model: string, id: string, fromQueue: boolean): Promise<boolean> | boolean;
  /** Gives back capacity that was acquired for a request that then went away before dispatch. */
  release(model: string, id: string): void;
  /** True when the model's fleet is saturated (sheddable requests are refused outright). */
  saturated(model: string): boolean;
}

export type QueueRefusal = "shed" | "queue-full" | "timeout" | "aborted";
export type QueueOutcome = { ok: true; waitedMs: number } | { ok: false; reason: QueueRefusal; waitedMs: number };

interface Waiter {
  id: string;
  user: string;
  priority: number;
  cost: number;
  seq: number;
  enqueuedAt: number;
  done: (o: QueueOutcome) => void;
}

/**
 * One model's waiters, as one FIFO per (priority, user) in arrival order: the next to leave is the head of one of
 * them, so choosing costs a look at each FIFO's head, not at every waiter (a VTC counter is per user, the same for
 * all of a user's waiters).
 */
interface Lane {
  fifos: Map<string, Waiter[]>;
  size: number;
  /** Waiters per user: who is backlogged (VTC's lift on arrival). */
  perUser: Map<string, number>;
  pumping: boolean;
  again: boolean;
  retryTimer?: NodeJS.Timeout;
  lastServed?: string;
}

export class FairQueue {
  private readonly lanes = new Map<string, Lane>();
  private seq = 0;
  private closed = false;

  constructor(
    private readonly opts: FairQueueOptions,
    private readonly counters: VtcCounters,
    private readonly gate: CapacityGate,
    private readonly now: () => number = Date.now,
  ) {}

  depth(model: string): number {
    return this.lanes.get(model)?.size ?? 0;
  }

  models(): string[] {
    return [...this.lanes.keys()];
  }

  /** Resolves once the request may go to an engine, or with the reason it may not. Never rejects. */
  async enter(
    model: string,
    user: string,
    priority: number,
    inputTokens: number,
    id: string,
    signal?: AbortSignal,
  ): Promise<QueueOutcome> {
    const lane = this.lane(model);
    const cost = this.opts.inputWeight * inputTokens;
    this.liftOnArrival(model, lane, user);
    if (lane.size === 0 && (await this.gate.tryAcquire(model, id, false))) {
      this.serve(model, lane, user, cost);
      return { ok: true, waitedMs: 0 };
    }
    if (isSheddable(priority) && this.gate.saturated(model)) return { ok: false, reason: "shed", waitedMs: 0 };
    if (signal?.aborted) return { ok: false, reason: "aborted", waitedMs: 0 };
    if (lane.size >= this.opts.maxQueued) {
      const victim = this.lowest(lane);
      if (!victim || victim.priority >= priority) return { ok: false, reason: "queue-full", waitedMs: 0 };
      this.remove(lane, victim);
      victim.done({ ok: false, reason: "shed", waitedMs: this.now() - victim.enqueuedAt });
    }
    return new Promise<QueueOutcome>((resolve) => {
      const enqueuedAt = this.now();
      const onAbort = () => {
        if (this.remove(lane, waiter)) finish({ ok: false, reason: "aborted", waitedMs: this.now() - enqueuedAt });
      };
      const finish = (o: QueueOutcome) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(o);
      };
      const waiter: Waiter = { id, user, priority, cost, seq: this.seq++, enqueuedAt, done: finish };
      this.add(lane, waiter);
      const timer = setTimeout(() => {
        if (this.remove(lane, waiter)) finish({ ok: false, reason: "timeout", waitedMs: this.now() - enqueuedAt });
      }, this.opts.maxWaitMs);
      timer.unref(); // the waiting client's socket keeps the process alive, not this timer
      signal?.addEventListener("abort", onAbort, { once: true });
      void this.pump(model);
    });
  }

  /** Completion tokens as they stream: charged to the user's counter. */
  chargeOutput(model: string, user: string, tokens: number): void {
    if (tokens > 0) this.counters.add(model, user, this.opts.outputWeight * tokens);
  }

  /** Capacity was freed for `model` (a request finished): let the next one through. */
  capacityFreed(model: string): void {
    if (this.lanes.get(model)?.size) void this.pump(model);
  }

  close(): void {
    this.closed = true;
    for (const lane of this.lanes.values()) {
      if (lane.retryTimer) clearTimeout(lane.retryTimer);
      const all = [...lane.fifos.values()].flat();
      lane.fifos.clear();
      lane.perUser.clear();
      lane.size = 0;
      for (const w of all) w.done({ ok: false, reason: "aborted", waitedMs: 0 });
    }
  }

  private lane(model: string): Lane {
    let lane = this.lanes.get(model);
    if (!lane) {
      lane = { fifos: new Map(), size: 0, perUser: new Map(), pumping: false, again: false };
      this.lanes.set(model, lane);
    }
    return lane;
  }

  private liftOnArrival(model: string, lane: Lane, user: string): void {
    if (this.opts.policy !== "vtc" || lane.perUser.has(user)) return;
    let floor = Infinity;
    for (const u of lane.perUser.keys()) floor = Math.min(floor, this.counters.get(model, u));
    if (floor === Infinity && lane.lastServed !== undefined) floor = this.counters.get(model, lane.lastServed);
    if (floor !== Infinity) this.counters.lift(model, user, floor);
  }

  private serve(model: string, lane: Lane, user: string, cost: number): void {
    this.counters.add(model, user, cost);
    lane.lastServed = user;
  }

  /** Next waiter: highest priority; then least-served user (VTC) or earliest arrival (FCFS). */
  private next(model: string, lane: Lane): Waiter | undefined {
    let best: Waiter | undefined;
    let bestCounter = 0;
    for (const fifo of lane.fifos.values()) {
      const w = fifo[0]!;
      const c = this.opts.policy === "vtc" ? this.counters.get(model, w.user) : 0;
      if (
        !best ||
        w.priority > best.priority ||
        (w.priority === best.priority && (c < bestCounter || (c === bestCounter && w.seq < best.seq)))
      ) {
        best = w;
        bestCounter = c;
      }
    }
    return best;
  }

  /** Shedding victim: lowest priority, newest first. */
  private lowest(lane: Lane): Waiter | undefined {
    let worst: Waiter | undefined;
    for (const fifo of lane.fifos.values()) {
      const w = fifo[fifo.length - 1]!;
      if (!worst || w.priority < worst.priority || (w.priority === worst.priority && w.seq > worst.seq)) worst = w;
    }
    return worst;
  }

  private add(lane: Lane, w: Waiter): void {
    const key = fifoKey(w);
    const fifo = lane.fifos.get(key);
    if (fifo) fifo.push(w);
    else lane.fifos.set(key, [w]);
    lane.size++;
    lane.perUser.set(w.user, (lane.perUser.get(w.user) ?? 0) + 1);
  }

  /** Takes `w` out of its FIFO (at the head when it leaves for an engine); false when it is no longer waiting. */
  private remove(lane: Lane, w: Waiter): boolean {
    const key = fifoKey(w);
    const fifo = lane.fifos.get(key);
    const i = fifo ? fifo.indexOf(w) : -1;
    if (!fifo || i < 0) return false;
    if (i === 0) fifo.shift();
    else fifo.splice(i, 1);
    if (fifo.length === 0) lane.fifos.delete(key);
    lane.size--;
    const left = (lane.perUser.get(w.user) ?? 1) - 1;
    if (left === 0) lane.perUser.delete(w.user);
    else lane.perUser.set(w.user, left);
    return true;
  }

  private async pump(model: string): Promise<void> {
    const lane = this.lane(model);
    if (lane.pumping) {
      lane.again = true;
      return;
    }
    lane.pumping = true;
    try {
      do {
        lane.again = false;
        while (!this.closed && lane.size > 0) {
          const w = this.next(model, lane);
          if (!w) break;
          if (!(await this.gate.tryAcquire(model, w.id, true))) {
            this.scheduleRetry(model, lane);
            break;
          }
          if (!this.remove(lane, w)) {
            // It timed out or its client left while we were acquiring: hand the capacity back.
            this.gate.release(model, w.id);
            continue;
          }
          this.serve(model, lane, w.user, w.cost);
          w.done({ ok: true, waitedMs: this.now() - w.enqueuedAt });
        }
      } while (lane.again && !this.closed);
    } finally {
      lane.pumping = false;
    }
  }

  private scheduleRetry(model: string, lane: Lane): void {
    if (lane.retryTimer || this.closed) return;
    lane.retryTimer = setTimeout(() => {
      lane.retryTimer = undefined;
      void this.pump(model);
    }, this.opts.retryMs);
    lane.retryTimer.unref();
  }
}

const fifoKey = (w: Pick<Waiter, "priority" | "user">): string => `${w.priority}\u0000${w.user}`;
