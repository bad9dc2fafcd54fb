// vLLM KV-cache events as vLLM publishes them (`--kv-events-config`, publisher "zmq").
//
// Transport: ZMQ PUB, multipart [topic (UTF-8), seq (uint64 big-endian, from 0 per publisher), payload]. The publisher
// binds `ipc://`, `inproc://` and wildcard `tcp://*:P` endpoints (and *connects* to any other), so a subscriber
// connects to an `ipc://` path or the engine's `tcp://host:P`. A gap in seq is filled from the replay socket (ROUTER):
// a DEALER sends [empty, start_seq BE64] and receives [empty, topic, seq, payload]… then [empty, "", END_SEQ (-1), ""]
// (vLLM before 0.30 sent no topic frame; both are read).
//
// Payload: msgpack of vLLM's msgspec structs. The batch is [ts, [event…], data_parallel_rank] (or a map with those
// field names). Each event is a tagged struct in one of two encodings:
//   map form (current vLLM): {"type": "BlockStored", "block_hashes": …, …}; fields with a default are left out when
//                           they hold it, fields without one (lora_id, medium, lora_name) are always present;
//   array form (older vLLM, AIBrix): ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id,
//                           medium, lora_name, extra_keys, group_idx, kv_cache_spec_kind, kv_cache_spec_sliding_window,
//                           locality, ownership, session_id], trailing defaults left out;
//                           ["BlockRemoved", block_hashes, medium, group_idx, locality, ownership]; ["AllBlocksCleared"].
// Block hashes are ints or bytes. vLLM's ints (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1, the default) are the last 8
// bytes of the 32-byte digest read big-endian; a bytes hash is normalised the same way, so both forms of one block
// give one key, and api/block-hash.ts computes exactly that key for a request's blocks.
import { Decoder } from "@msgpack/msgpack";
import * as zmq from "zeromq";

/** A block's key: the low 64 bits (last 8 bytes, big-endian) of vLLM's block digest. */
export type BlockHash = bigint;

export interface BlockStoredEvent {
  type: "BlockStored";
  hashes: BlockHash[];
  parentHash?: BlockHash;
  tokenIds: number[];
  blockSize: number;
  /** Deprecated by vLLM in favour of loraName; kept because older engines send only this. */
  loraId?: number;
  /** Where the blocks live: "GPU" (also on CPU engines) or an offload tier such as "CPU". */
  medium?: string;
  loraName?: string;
  /** One entry per block: the extra keys (LoRA name, cache salt, multimodal hashes) its hash covered. */
  extraKeys?: (unknown[] | null)[];
  /** KV-cache group (hybrid models keep one per attention kind); 0 when absent. */
  groupIdx?: number;
  kvCacheSpecKind?: string;
  slidingWindow?: number;
  /** "LOCAL" or "REMOTE" relative to the publisher (offloading connectors). */
  locality?: string;
  /** Secondary offloading tier that generated the event. */
  ownership?: string;
  sessionId?: string;
}

export interface BlockRemovedEvent {
  type: "BlockRemoved";
  hashes: BlockHash[];
  medium?: string;
  groupIdx?: number;
  locality?: string;
  ownership?: string;
}

export type KvEvent = BlockStoredEvent | BlockRemovedEvent | { type: "AllBlocksCleared" };

export interface KvEventBatch {
  ts: number;
  events: KvEvent[];
  dpRank?: number;
}

export class KvEventDecodeError extends Error {}

const decoder = new Decoder({ useBigInt64: true });

export function toBlockHash(h: unknown): BlockHash {
  if (typeof h === "bigint") return BigInt.asUintN(64, h);
  if (typeof h === "number" && Number.isInteger(h)) return BigInt.asUintN(64, BigInt(h));
  if (h instanceof Uint8Array) {
    let v = 0n;
    for (let i = Math.max(0, h.length - 8); i < h.length; i++) v = (v << 8n) | BigInt(h[i]!);
    return v;
  }
  throw new KvEventDecodeError(`block hash ${String(h)} is neither an integer nor bytes`);
}

function hashes(v: unknown, field: string): BlockHash[] {
  if (!Array.isArray(v)) throw new KvEventDecodeError(`${field} must be an array of block hashes`);
  return v.map(toBlockHash);
}

function optString(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function optNumber(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

function tokenIds(v: unknown, field: string): number[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new KvEventDecodeError(`${field} must be an array of token ids`);
  return v.map((t) => Number(t));
}

function extraKeys(v: unknown): (unknown[] | null)[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.map((k) => (Array.isArray(k) ? k : null));
}

/** Field names of vLLM's structs, in declaration order (the array form's positions after the tag). */
const STORED_FIELDS = [
  "block_hashes",
  "parent_block_hash",
  "token_ids",
  "block_size",
  "lora_id",
  "medium",
  "lora_name",
  "extra_keys",
  "group_idx",
  "kv_cache_spec_kind",
  "kv_cache_spec_sliding_window",
  "locality",
  "ownership",
  "session_id",
] as const;
const REMOVED_FIELDS = ["block_hashes", "medium", "group_idx", "locality", "ownership"] as const;

function fieldsOf(raw: unknown): { tag: string; get(name: string): unknown } {
  if (Array.isArray(raw) && typeof raw[0] === "string") {
    const tag = raw[0];
    const names: readonly string[] =
      tag === "BlockStored" ? STORED_FIELDS : tag === "BlockRemoved" ? REMOVED_FIELDS : [];
    return { tag, get: (name) => raw[names.indexOf(name) + 1] };
  }
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw) && !(raw instanceof Uint8Array)) {
    const map = raw as Record<string, unknown>;
    if (typeof map.type !== "string") {
      throw new KvEventDecodeError('event map must carry its tag in "type" (BlockStored, BlockRemoved, …)');
    }
    return { tag: map.type, get: (name) => map[name] };
  }
  throw new KvEventDecodeError('event must be a map {"type": tag, …} or a tagged array [tag, …fields]');
}

export function decodeKvEvent(raw: unknown): KvEvent {
  const f = fieldsOf(raw);
  switch (f.tag) {
    case "BlockStored": {
      const parent = f.get("parent_block_hash");
      return dropUndefined({
        type: "BlockStored",
        hashes: hashes(f.get("block_hashes"), "BlockStored.block_hashes"),
        parentHash: parent === null || parent === undefined ? undefined : toBlockHash(parent),
        tokenIds: tokenIds(f.get("token_ids"), "BlockStored.token_ids"),
        blockSize: optNumber(f.get("block_size")) ?? 0,
        loraId: optNumber(f.get("lora_id")),
        medium: optString(f.get("medium")),
        loraName: optString(f.get("lora_name")),
        extraKeys: extraKeys(f.get("extra_keys")),
        groupIdx: optNumber(f.get("group_idx")),
        kvCacheSpecKind: optString(f.get("kv_cache_spec_kind")),
        slidingWindow: optNumber(f.get("kv_cache_spec_sliding_window")),
        locality: optString(f.get("locality")),
        ownership: optString(f.get("ownership")),
        sessionId: optString(f.get("session_id")),
      });
    }
    case "BlockRemoved":
      return dropUndefined({
        type: "BlockRemoved",
        hashes: hashes(f.get("block_hashes"), "BlockRemoved.block_hashes"),
        medium: optString(f.get("medium")),
        groupIdx: optNumber(f.get("group_idx")),
        locality: optString(f.get("locality")),
        ownership: optString(f.get("ownership")),
      });
    case "AllBlocksCleared":
      return { type: "AllBlocksCleared" };
    default:
      throw new KvEventDecodeError(
        `unknown event tag "${f.tag}" (expected BlockStored, BlockRemoved, AllBlocksCleared)`,
      );
  }
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export function decodeKvEventBatch(payload: Uint8Array): KvEventBatch {
  const raw = decoder.decode(payload);
  let ts: unknown, events: unknown, rank: unknown;
  if (Array.isArray(raw)) [ts, events, rank] = raw;
  else if (raw !== null && typeof raw === "object" && !(raw instanceof Uint8Array)) {
    const map = raw as Record<string, unknown>;
    [ts, events, rank] = [map.ts, map.events, map.data_parallel_rank];
  }
  if (!Array.isArray(events)) {
    throw new KvEventDecodeError("batch must be a msgpack array [ts, [events…], dp_rank?] or a map with those fields");
  }
  const batch: KvEventBatch = { ts: optNumber(ts) ?? 0, events: events.map(decodeKvEvent) };
  const dpRank = optNumber(rank);
  if (dpRank !== undefined) batch.dpRank = dpRank;
  return batch;
}

export function readSeq(frame: Uint8Array): bigint {
  if (frame.length !== 8) throw new KvEventDecodeError(`sequence frame must be 8 bytes, got ${frame.length}`);
  return Buffer.from(frame.buffer, frame.byteOffset, 8).readBigUInt64BE(0);
}

/** vLLM's end-of-replay marker: -1 as a signed 64-bit big-endian integer. */
const END_SEQ = 0xffffffffffffffffn;

export interface KvEventSubscriberOptions {
  /** The engine's PUB endpoint: `ipc:///path` on one machine, `tcp://host:5557` across machines. */
  endpoint: string;
  /** Replay ROUTER endpoint; without it, gaps are only counted. */
  replayEndpoint?: string;
  topic?: string;
  onBatch(batch: KvEventBatch): void;
  /** A break in the sequence: `missing` batches were not received (they are replayed next, when possible). */
  onGap?(missing: bigint): void;
  /**
   * The sequence started over (the engine restarted, so its cache is empty): whatever was learnt from this
   * endpoint before is stale. Called before the first batch of the new sequence is delivered.
   */
  onRestart?(): void;
  onError?(err: Error): void;
}

/**
 * Subscribes to one engine's KV events; `close()` stops it. With a replay endpoint, a gap is filled from it, and so
 * is the history before the first batch received (blocks the engine stored before the router subscribed).
 */
export class KvEventSubscriber {
  private sub = new zmq.Subscriber();
  private lastSeq: bigint | undefined;
  private closed = false;
  gaps = 0;
  batches = 0;
  restarts = 0;

  constructor(private readonly opts: KvEventSubscriberOptions) {}

  start(): void {
    this.sub.connect(this.opts.endpoint);
    this.sub.subscribe(this.opts.topic ?? "");
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      for await (const frames of this.sub) {
        if (this.closed) break;
        const seqFrame = frames[1];
        const payload = frames[2];
        if (!seqFrame || !payload) continue;
        await this.receive(readSeq(seqFrame), payload);
      }
    } catch (err) {
      if (!this.closed) this.opts.onError?.(err as Error);
    }
  }

  private async receive(seq: bigint, payload: Uint8Array): Promise<void> {
    const last = this.lastSeq;
    if (seq === last) return; // a repeat of the batch just delivered
    if (last !== undefined && seq < last) {
      // A publisher counts from 0 again only after a restart; an old duplicate cannot arrive on PUB/SUB.
      this.restarts++;
      this.opts.onRestart?.();
      if (seq > 0n) await this.catchUp(0n, seq);
    } else if (last === undefined) {
      if (seq > 0n) await this.catchUp(0n, seq);
    } else if (seq > last + 1n) {
      this.gaps++;
      this.opts.onGap?.(seq - last - 1n);
      await this.catchUp(last + 1n, seq);
    }
    this.lastSeq = seq;
    this.deliver(payload);
  }

  private async catchUp(from: bigint, until: bigint): Promise<void> {
    if (this.opts.replayEndpoint) await this.replay(from, until);
  }

  private deliver(payload: Uint8Array): void {
    try {
      this.batches++;
      this.opts.onBatch(decodeKvEventBatch(payload));
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  /** Fetch [from, until) from the replay socket, bounded by a 2 s deadline. */
  private async replay(from: bigint, until: bigint): Promise<void> {
    const dealer = new zmq.Dealer({ receiveTimeout: 2000, linger: 0 });
    try {
      dealer.connect(this.opts.replayEndpoint!);
      const start = Buffer.alloc(8);
      start.writeBigUInt64BE(from);
      await dealer.send([Buffer.alloc(0), start]);
      for (;;) {
        const frames = await dealer.receive();
        const seqFrame = frames[frames.length - 2];
        const payload = frames[frames.length - 1];
        if (!seqFrame || !payload) break;
        const seq = readSeq(seqFrame);
        if (seq === END_SEQ || seq >= until) break;
        if (seq >= from) this.deliver(payload);
      }
    } catch (err) {
      this.opts.onError?.(err as Error);
    } finally {
      dealer.close();
    }
  }

  close(): void {
    this.closed = true;
    this.sub.close();
  }
}
