// Shares the approximate prefix index between router replicas over Redis pub/sub. The hot path stays synchronous:
// local inserts are only queued here and published in small batches; batches from other replicas are applied to the
// local index as they arrive. Redis being away only means replicas learn less from each other for a while: batches
// are dropped (the index is approximate anyway), nothing waits, nothing throws into the request path.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { PrefixIndex } from "./prefix-index.js";
import { FAIL_FAST_REDIS } from "../redis-options.js";

export const prefixSyncChannel = "aibrix:prefix-index";

/** One insert: endpoint `id` (`host:port`, the same on every replica) now holds these blocks of `model`. */
export interface PrefixInsert {
  model: string;
  id: string;
  hashes: bigint[];
}

/** Wire form: compact JSON, hashes as decimal strings so 64-bit values survive exactly. */
interface WireMessage {
  /** Sender replica id. */
  r: string;
  /** [model, endpoint id, hashes]. */
  e: [string, string, string[]][];
}

export function encodePrefixMessage(replica: string, inserts: readonly PrefixInsert[]): string {
  const msg: WireMessage = { r: replica, e: inserts.map((i) => [i.model, i.id, i.hashes.map((h) => h.toString())]) };
  return JSON.stringify(msg);
}

/** Parses a message; throws with a message naming what is wrong when it is not one of ours. */
export function decodePrefixMessage(text: string): { replica: string; inserts: PrefixInsert[] } {
  const msg = JSON.parse(text) as Partial<WireMessage>;
  if (typeof msg.r !== "string") throw new Error(`prefix-sync message field "r": must be a string replica id`);
  if (!Array.isArray(msg.e)) throw new Error(`prefix-sync message field "e": must be a list of inserts`);
  const inserts = msg.e.map((entry, i): PrefixInsert => {
    const [model, id, hashes] = entry;
    if (typeof model !== "string" || typeof id !== "string" || !Array.isArray(hashes)) {
      throw new Error(`prefix-sync message field "e[${i}]": must be [model, endpointId, hashes[]]`);
    }
    return { model, id, hashes: hashes.map((h) => BigInt(h)) };
  });
  return { replica: msg.r, inserts };
}

export interface PrefixSyncOptions {
  redisUrl: string;
  /** How often queued local inserts are published (ms). */
  flushMs?: number;
  /** Block hashes per published message (a long prompt is hundreds): keeps each message well under 1 MB. */
  maxHashesPerMessage?: number;
  /** Queued inserts kept while Redis is unreachable; older ones are dropped. */
  maxQueued?: number;
  /** Told when the connection to Redis is lost or a message is malformed (once per outage, not per retry). */
  onError?: (err: Error) => void;
}

export interface PrefixSyncStats {
  /** Local inserts published, and dropped (Redis unreachable or queue full). */
  published: number;
  dropped: number;
  /** Messages from other replicas, and the inserts they carried that were applied. */
  received: number;
  applied: number;
  ignoredOwn: number;
  malformed: number;
}

export class PrefixSync {
  readonly replica = randomBytes(6).toString("hex");
  readonly stats: PrefixSyncStats = { published: 0, dropped: 0, received: 0, applied: 0, ignoredOwn: 0, malformed: 0 };
  private readonly pub: Redis;
  private readonly sub: Redis;
  private queue: PrefixInsert[] = [];
  private timer: NodeJS.Timeout | undefined;
  private applying = false;
  private closed = false;
  private down = false;
  private subscribed = false;
  private readonly flushMs: number;
  private readonly maxHashesPerMessage: number;
  private readonly maxQueued: number;

  constructor(
    private readonly index: PrefixIndex,
    private readonly opts: PrefixSyncOptions,
  ) {
    this.flushMs = opts.flushMs ?? 25;
    this.maxHashesPerMessage = opts.maxHashesPerMessage ?? 8192;
    this.maxQueued = opts.maxQueued ?? 10_000;
    // Publishing never queues while disconnected: a stale batch is worth less than the memory it holds.
    this.pub = new Redis(opts.redisUrl, FAIL_FAST_REDIS);
    // The subscriber (re-)subscribes itself on every (re)connect, so `ready` knows when messages flow again; its
    // SUBSCRIBE may wait in the offline queue for that connection.
    this.sub = new Redis(opts.redisUrl, { ...FAIL_FAST_REDIS, enableOfflineQueue: true, autoResubscribe: false });
    for (const conn of [this.pub, this.sub]) {
      conn.on("error", (err: Error) => this.reportDown(err));
      conn.on("ready", () => (this.down = false));
      conn.on("close", () => this.reportDown(new Error("connection to Redis closed; reconnecting")));
    }
    this.sub.on("ready", () => {
      this.sub.subscribe(prefixSyncChannel).then(
        () => (this.subscribed = true),
        (err: Error) => this.reportDown(err),
      );
    });
    this.sub.on("close", () => (this.subscribed = false));
    this.sub.on("message", (channel: string, text: string) => {
      if (channel === prefixSyncChannel) this.receive(text);
    });
    index.onInsert = (model, hashes, id) => {
      if (!this.applying && !this.closed) this.enqueue({ model, id, hashes: [...hashes] });
    };
  }

  /** Both publishing and receiving work right now. */
  get ready(): boolean {
    return this.subscribed && this.pub.status === "ready";
  }

  private reportDown(err: Error): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.opts.onError?.(err);
  }

  private enqueue(ins: PrefixInsert): void {
    this.queue.push(ins);
    if (this.queue.length > this.maxQueued) {
      const excess = this.queue.length - this.maxQueued;
      this.queue.splice(0, excess);
      this.stats.dropped += excess;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushMs);
      this.timer.unref();
    }
  }

  /** Publishes everything queued; resolves when Redis answered or the batch was dropped. Never rejects. */
  async flush(): Promise<void> {
    if (this.queue.length === 0) return;
    if (this.pub.status !== "ready") {
      this.stats.dropped += this.queue.length;
      this.queue = [];
      return;
    }
    const batch = this.queue;
    this.queue = [];
    const sends: Promise<void>[] = [];
    let part: PrefixInsert[] = [];
    let hashes = 0;
    for (const ins of batch) {
      if (part.length > 0 && hashes + ins.hashes.length > this.maxHashesPerMessage) {
        sends.push(this.publish(part));
        part = [];
        hashes = 0;
      }
      part.push(ins);
      hashes += ins.hashes.length;
    }
    sends.push(this.publish(part));
    await Promise.all(sends);
  }

  private publish(part: PrefixInsert[]): Promise<void> {
    return this.pub.publish(prefixSyncChannel, encodePrefixMessage(this.replica, part)).then(
      () => void (this.stats.published += part.length),
      (err: Error) => {
        this.stats.dropped += part.length;
        this.reportDown(err);
      },
    );
  }

  private receive(text: string): void {
    let msg: ReturnType<typeof decodePrefixMessage>;
    try {
      msg = decodePrefixMessage(text);
    } catch (err) {
      this.stats.malformed++;
      this.opts.onError?.(err as Error);
      return;
    }
    if (msg.replica === this.replica) {
      this.stats.ignoredOwn++;
      return;
    }
    this.stats.received++;
    // Stamped with the local clock: replicas' clocks may disagree, and the entry is as fresh as the message.
    const now = Date.now();
    this.applying = true;
    try {
      for (const ins of msg.inserts) {
        if (ins.hashes.length === 0) continue;
        this.index.insert(ins.model, ins.hashes, ins.id, now);
        this.stats.applied++;
      }
    } finally {
      this.applying = false;
    }
  }

  /** Stops timers, publishes what is queued if Redis is up, and closes both connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    this.closed = true;
    this.index.onInsert = undefined;
    this.sub.disconnect();
    this.pub.disconnect();
  }
}
