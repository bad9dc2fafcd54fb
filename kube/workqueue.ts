// The work queue controllers drain: a key is queued at most once however often it is added, is handed to at most
// one worker at a time (a key added while being processed is queued again when that worker is done), and can be
// re-added after a delay or with per-key exponential backoff. client-go's semantics, in one small class.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface WorkQueueOptions {
  /** Backoff of `addRateLimited`: base·2^(failures) up to max (default 5 ms and 1000 s, as client-go). */
  backoffMs?: { base: number; max: number };
  metrics?: WorkQueueMetrics;
}

/** workqueue_* metrics under client-go's names, labelled by queue name. */
export class WorkQueueMetrics {
  readonly depth: Gauge<"name">;
  readonly adds: Counter<"name">;
  readonly retries: Counter<"name">;
  readonly queueDuration: Histogram<"name">;
  readonly workDuration: Histogram<"name">;

  constructor(registry: Registry) {
    const buckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60];
    const registers = [registry];
    this.depth = new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue",
      labelNames: ["name"],
      registers,
    });
    this.adds = new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue",
      labelNames: ["name"],
      registers,
    });
    this.retries = new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue",
      labelNames: ["name"],
      registers,
    });
    this.queueDuration = new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      labelNames: ["name"],
      buckets,
      registers,
    });
    this.workDuration = new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes",
      labelNames: ["name"],
      buckets,
      registers,
    });
  }
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private shuttingDown = false;

  constructor(
    readonly name: string,
    private readonly options: WorkQueueOptions = {},
  ) {}

  get length(): number {
    return this.queue.length;
  }

  /** Queues `key` unless it is already waiting; a key being processed is queued again when done. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.options.metrics?.adds.labels(this.name).inc();
    this.dirty.add(key);
    this.addedAt.set(key, performance.now());
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) this.hand(key, waiter);
    else {
      this.queue.push(key);
      this.options.metrics?.depth.labels(this.name).set(this.queue.length);
    }
  }

  /** Adds `key` after `ms`; an earlier pending delay for the same key wins (the sooner retry is kept). */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** Adds `key` after its backoff, which doubles with every call until `forget(key)`. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.options.metrics?.retries.labels(this.name).inc();
    this.addAfter(key, this.backoff(n));
  }

  backoff(failures: number): number {
    const { base, max } = this.options.backoffMs ?? { base: 5, max: 1_000_000 };
    return Math.min(max, base * 2 ** Math.min(failures, 40));
  }

  /** Clears `key`'s failure count (call after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process; waits while the queue is empty; undefined once shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.options.metrics?.depth.labels(this.name).set(this.queue.length);
      return new Promise((resolve) => this.hand(key, resolve));
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private hand(key: string, to: (key: string) => void): void {
    this.processing.add(key);
    this.dirty.delete(key);
    const added = this.addedAt.get(key);
    if (added !== undefined)
      this.options.metrics?.queueDuration.labels(this.name).observe((performance.now() - added) / 1000);
    this.startedAt.set(key, performance.now());
    to(key);
  }

  /** Marks `key` processed; if it was added meanwhile, it is queued again now. */
  done(key: string): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    if (started !== undefined)
      this.options.metrics?.workDuration.labels(this.name).observe((performance.now() - started) / 1000);
    this.startedAt.delete(key);
    if (!this.dirty.has(key) || this.shuttingDown) return;
    const waiter = this.waiters.shift();
    if (waiter) this.hand(key, waiter);
    else {
      this.queue.push(key);
      this.options.metrics?.depth.labels(this.name).set(this.queue.length);
    }
  }

  /** Stops handing out keys: waiting `get()` calls resolve undefined; pending delays are dropped. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
