// KV events on the wire exactly as vLLM publishes them, so a router's prefix index works against both.
//
// Transport: a ZeroMQ PUB socket. Each message is multipart [topic, seq, payload]:
//   topic   UTF-8 bytes (vLLM's default is empty; we use `kv@<host>:<port>@<model>` so one subscriber can tell engines
//           apart, and subscribers filter by prefix as usual),
//   seq     the batch sequence number, 8 bytes big-endian, starting at 0,
//   payload msgpack of a KVEventBatch as vLLM 0.32's msgspec encoder writes it: the batch is array-like, each event
//           a tagged map with defaults omitted (fields without a default, lora_id/medium/lora_name, always present):
//             KVEventBatch     = [ts (float seconds), [event, ...], data_parallel_rank (int)]
//             BlockStored      = {type: "BlockStored", block_hashes, parent_block_hash | nil, token_ids, block_size,
//                                 lora_id | nil, medium, lora_name | nil, extra_keys?, group_idx}
//             BlockRemoved     = {type: "BlockRemoved", block_hashes, medium, group_idx}
//             AllBlocksCleared = {type: "AllBlocksCleared"}
//           Block hashes are the low 64 bits of vLLM's block digests (api/block-hash.ts), as msgpack uints; medium
//           is "GPU"; extra_keys, one entry per block, holds the LoRA name untagged, as vLLM publishes it.
// Replay (optional, as vLLM's replay endpoint): a ROUTER socket keeps the last REPLAY_BUFFER batches. A DEALER sends
// [empty, start_seq (8 bytes BE)] and receives [empty, topic, seq, payload] for every buffered batch from start_seq
// on, then [empty, empty, END_SEQ (-1 as 8 bytes), empty].
import { encode } from "@msgpack/msgpack";
import { Publisher, Router } from "zeromq";
import type { KvEvent } from "./kv-cache.js";

export const KV_MEDIUM = "GPU";

/** The msgpack-ready map form of one event (see the file comment). */
export function eventToWire(e: KvEvent): Record<string, unknown> {
  switch (e.type) {
    case "BlockStored":
      return {
        type: "BlockStored",
        block_hashes: e.blockHashes,
        parent_block_hash: e.parentBlockHash,
        token_ids: e.tokenIds,
        block_size: e.blockSize,
        lora_id: e.loraId,
        medium: e.medium ?? KV_MEDIUM,
        lora_name: e.loraName,
        ...(e.loraName !== null ? { extra_keys: e.blockHashes.map(() => [e.loraName]) } : {}),
        group_idx: 0,
      };
    case "BlockRemoved":
      return { type: "BlockRemoved", block_hashes: e.blockHashes, medium: e.medium ?? KV_MEDIUM, group_idx: 0 };
    case "AllBlocksCleared":
      return { type: "AllBlocksCleared" };
  }
}

/** Encodes one KVEventBatch payload. */
export function encodeBatch(ts: number, events: readonly KvEvent[], dataParallelRank = 0): Uint8Array {
  return encode([ts, events.map(eventToWire), dataParallelRank], { useBigInt64: true });
}

/** Batches kept for replay (vLLM's default buffer_steps). */
export const REPLAY_BUFFER = 10_000;
export const END_SEQ = Buffer.alloc(8, 0xff);

export function seqBytes(seq: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(seq);
  return b;
}

export class KvEventPublisher {
  private readonly socket = new Publisher({ sendHighWaterMark: 100_000 });
  private seq = 0n;
  private sending = false;
  private readonly queue: Buffer[][] = [];
  private closed = false;
  private replaySocket: Router | null = null;
  /** [seq, payload] of recent batches, oldest first. */
  private readonly history: [bigint, Buffer][] = [];
  endpoint = "";
  replayEndpoint: string | undefined;
  readonly topic: string;

  private constructor(topic: string) {
    this.topic = topic;
  }

  /** Binds `tcp://host:port` (port 0 picks a free port), and the replay socket when `replayPort` is given. */
  static async bind(host: string, port: number, topic: string, replayPort?: number): Promise<KvEventPublisher> {
    const p = new KvEventPublisher(topic);
    await p.socket.bind(`tcp://${host}:${port === 0 ? "*" : String(port)}`);
    p.endpoint = p.socket.lastEndpoint ?? `tcp://${host}:${port}`;
    if (replayPort !== undefined) {
      const r = new Router({ linger: 0 });
      await r.bind(`tcp://${host}:${replayPort === 0 ? "*" : String(replayPort)}`);
      p.replaySocket = r;
      p.replayEndpoint = r.lastEndpoint ?? `tcp://${host}:${replayPort}`;
      void p.serveReplay(r);
    }
    return p;
  }

  private async serveReplay(r: Router): Promise<void> {
    try {
      for await (const frames of r) {
        const [identity, , start] = frames;
        if (!identity || !start || start.length !== 8) continue;
        const from = start.readBigUInt64BE();
        for (const [seq, payload] of this.history) {
          if (seq >= from) await r.send([identity, Buffer.alloc(0), Buffer.from(this.topic), seqBytes(seq), payload]);
        }
        await r.send([identity, Buffer.alloc(0), Buffer.alloc(0), END_SEQ, Buffer.alloc(0)]);
      }
    } catch {
      // The socket closed: replay ends with the publisher.
    }
  }

  /** Publishes one batch (no-op for none); sends are serialised because a zeromq socket sends one at a time. */
  publish(events: readonly KvEvent[], ts = Date.now() / 1000): void {
    if (this.closed || events.length === 0) return;
    const seq = this.seq++;
    const payload = Buffer.from(encodeBatch(ts, events));
    this.queue.push([Buffer.from(this.topic), seqBytes(seq), payload]);
    if (this.replaySocket) {
      this.history.push([seq, payload]);
      if (this.history.length > REPLAY_BUFFER) this.history.shift();
    }
    if (!this.sending) void this.pump();
  }

  private async pump(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const msg = this.queue.shift() as Buffer[];
        await this.socket.send(msg);
      }
    } catch {
      // A closed socket ends publishing; PUB never blocks on slow subscribers (it drops at the high-water mark).
    } finally {
      this.sending = false;
    }
  }

  close(): void {
    this.closed = true;
    this.socket.close();
    this.replaySocket?.close();
  }
}
