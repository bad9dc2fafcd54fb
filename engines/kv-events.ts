// vLLM KV-cache events: ZMQ PUB/SUB multipart [topic, seq (BE uint64), payload], payload = msgpack
// [ts, [event…], dp_rank?] with tagged-array events. A gap in seq is filled from the replay socket (DEALER→ROUTER,
// request [empty, start_seq BE64], answers [empty, seq, payload] ending with seq = -1).
import { Decoder } from "@msgpack/msgpack";
import * as zmq from "zeromq";

/** Block hashes are normalised to unsigned 64-bit integers (bytes digests: first 8 bytes, big-endian). */
export type BlockHash = bigint;

export type KvEvent =
  | {
      type: "BlockStored";
      hashes: BlockHash[];
      parentHash?: BlockHash;
      tokenIds: number[];
      blockSize: number;
      loraId?: number;
      medium?: string;
      loraName?: string;
    }
  | { type: "BlockRemoved"; hashes: BlockHash[]; medium?: string }
  | { type: "AllBlocksCleared" };

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
    for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(h[i] ?? 0);
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

export function decodeKvEvent(raw: unknown): KvEvent {
  if (!Array.isArray(raw) || typeof raw[0] !== "string") {
    throw new KvEventDecodeError("event must be a tagged array [tag, …fields]");
  }
  switch (raw[0]) {
    case "BlockStored":
      return {
        type: "BlockStored",
        hashes: hashes(raw[1], "BlockStored.block_hashes"),
        parentHash: raw[2] === null || raw[2] === undefined ? undefined : toBlockHash(raw[2]),
        tokenIds: Array.isArray(raw[3]) ? (raw[3] as unknown[]).map((t) => Number(t)) : [],
        blockSize: optNumber(raw[4]) ?? 0,
        loraId: optNumber(raw[5]),
        medium: optString(raw[6]),
        loraName: optString(raw[7]),
      };
    case "BlockRemoved":
      return { type: "BlockRemoved", hashes: hashes(raw[1], "BlockRemoved.block_hashes"), medium: optString(raw[2]) };
    case "AllBlocksCleared":
      return { type: "AllBlocksCleared" };
    default:
      throw new KvEventDecodeError(
        `unknown event tag "${raw[0]}" (expected BlockStored, BlockRemoved, AllBlocksCleared)`,
      );
  }
}

export function decodeKvEventBatch(payload: Uint8Array): KvEventBatch {
  const raw = decoder.decode(payload);
  if (!Array.isArray(raw) || raw.length < 2 || !Array.isArray(raw[1])) {
    throw new KvEventDecodeError("batch must be a msgpack array [ts, [events…], dp_rank?]");
  }
  return {
    ts: optNumber(raw[0]) ?? 0,
    events: (raw[1] as unknown[]).map(decodeKvEvent),
    dpRank: optNumber(raw[2]),
  };
}

export function readSeq(frame: Uint8Array): bigint {
  if (frame.length !== 8) throw new KvEventDecodeError(`sequence frame must be 8 bytes, got ${frame.length}`);
  return Buffer.from(frame.buffer, frame.byteOffset, 8).readBigUInt64BE(0);
}

const END_SEQ = 0xffffffffffffffffn;

export interface KvEventSubscriberOptions {
  /** PUB endpoint, e.g. tcp://10.0.0.5:5557. */
  endpoint: string;
  /** Replay ROUTER endpoint; without it, gaps are only counted. */
  replayEndpoint?: string;
  topic?: string;
  onBatch(batch: KvEventBatch): void;
  /** A break in the sequence: `missing` batches were not received (they are replayed next, when possible). */
  onGap?(missing: bigint): void;
  onError?(err: Error): void;
}

/** Subscribes to one engine's KV events; `close()` stops it. Gaps are replayed when a replay endpoint is known. */
export class KvEventSubscriber {
  private sub = new zmq.Subscriber();
  private lastSeq: bigint | undefined;
  private closed = false;
  gaps = 0;
  batches = 0;

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
        const seq = readSeq(seqFrame);
        if (this.lastSeq !== undefined && seq > this.lastSeq + 1n) {
          this.gaps++;
          this.opts.onGap?.(seq - this.lastSeq - 1n);
          if (this.opts.replayEndpoint) await this.replay(this.lastSeq + 1n, seq);
        }
        if (this.lastSeq === undefined || seq > this.lastSeq) this.lastSeq = seq;
        this.deliver(payload);
      }
    } catch (err) {
      if (!this.closed) this.opts.onError?.(err as Error);
    }
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
        this.deliver(payload);
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
