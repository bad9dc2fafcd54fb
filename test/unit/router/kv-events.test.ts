import { expect } from "chai";
import { encode } from "@msgpack/msgpack";
import * as zmq from "zeromq";
import {
  decodeKvEventBatch,
  KvEventDecodeError,
  KvEventSubscriber,
  toBlockHash,
  type KvEventBatch,
} from "../../../engines/kv-events.js";
import { KvBlockIndex } from "../../../router/picking/kv-index.js";

function seqFrame(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

describe("vLLM KV events", () => {
  it("decodes int64 hashes, negative hashes and byte digests", () => {
    const big = 0xfedcba9876543210n;
    const digest = Buffer.from("0102030405060708ffff", "hex");
    const payload = encode(
      [
        1.5,
        [
          ["BlockStored", [big, -1n, 7], null, [1, 2, 3], 16, null, "GPU", null],
          ["BlockStored", [digest], big, [4], 16],
          ["BlockRemoved", [7], "GPU"],
          ["AllBlocksCleared"],
        ],
        0,
      ],
      { useBigInt64: true },
    );
    const batch = decodeKvEventBatch(payload);
    expect(batch.ts).to.equal(1.5);
    expect(batch.dpRank).to.equal(0);
    const [a, b, c, d] = batch.events;
    expect(a).to.deep.include({
      type: "BlockStored",
      hashes: [big, 0xffffffffffffffffn, 7n],
      tokenIds: [1, 2, 3],
      blockSize: 16,
      medium: "GPU",
    });
    expect(b).to.deep.include({ hashes: [0x0102030405060708n], parentHash: big });
    expect(c).to.deep.equal({ type: "BlockRemoved", hashes: [7n], medium: "GPU" });
    expect(d).to.deep.equal({ type: "AllBlocksCleared" });
  });

  it("rejects unknown tags and malformed batches with a clear message", () => {
    expect(() => decodeKvEventBatch(encode([0, [["BlockMoved", []]]]))).to.throw(
      KvEventDecodeError,
      /unknown event tag "BlockMoved"/,
    );
    expect(() => decodeKvEventBatch(encode({ ts: 1 }))).to.throw(KvEventDecodeError, /\[ts, \[events…\]/);
    expect(() => toBlockHash("abc")).to.throw(KvEventDecodeError, /neither an integer nor bytes/);
  });

  it("the block index follows stores, removals and clears", () => {
    const idx = new KvBlockIndex();
    idx.apply("a", { ts: 0, events: [{ type: "BlockStored", hashes: [1n, 2n, 3n], tokenIds: [], blockSize: 16 }] });
    idx.apply("b", { ts: 0, events: [{ type: "BlockStored", hashes: [1n, 2n], tokenIds: [], blockSize: 16 }] });
    expect(Object.fromEntries(idx.matchDepths([1n, 2n, 3n, 4n], ["a", "b", "c"]))).to.deep.equal({ a: 3, b: 2 });
    idx.apply("a", { ts: 0, events: [{ type: "BlockRemoved", hashes: [2n] }] });
    expect(Object.fromEntries(idx.matchDepths([1n, 2n, 3n], ["a", "b"]))).to.deep.equal({ a: 1, b: 2 });
    idx.apply("b", { ts: 0, events: [{ type: "AllBlocksCleared" }] });
    expect(idx.blocks("b")).to.equal(0);
    expect(Object.fromEntries(idx.matchDepths([1n], ["a", "b"]))).to.deep.equal({ a: 1 });
  });

  it("subscribes over ZMQ and fills a sequence gap from the replay socket", async () => {
    const pub = new zmq.Publisher({ linger: 0 });
    const replay = new zmq.Router({ linger: 0 });
    await pub.bind("tcp://127.0.0.1:*");
    await replay.bind("tcp://127.0.0.1:*");
    const batches: KvEventBatch[] = [];
    const missing: bigint[] = [];
    const mk = (h: bigint) => encode([0, [["BlockStored", [h], null, [1], 16]]], { useBigInt64: true });
    // The replay server answers [id, "", seq, payload]… then the end marker seq = -1.
    const replayed: Promise<void> = (async () => {
      const [id, , start] = await replay.receive();
      expect(Buffer.from(start!).readBigUInt64BE(0)).to.equal(1n);
      await replay.send([id!, Buffer.alloc(0), seqFrame(1), Buffer.from(mk(11n))]);
      await replay.send([id!, Buffer.alloc(0), Buffer.alloc(8, 0xff), Buffer.alloc(0)]);
    })();
    const sub = new KvEventSubscriber({
      endpoint: pub.lastEndpoint!,
      replayEndpoint: replay.lastEndpoint!,
      onBatch: (b) => batches.push(b),
      onGap: (n) => missing.push(n),
    });
    sub.start();
    try {
      // Slow joiner: publish seq 0 until the subscriber sees it.
      const deadline = Date.now() + 5000;
      while (batches.length === 0 && Date.now() < deadline) {
        await pub.send(["kv", seqFrame(0), Buffer.from(mk(10n))]);
        await new Promise((r) => setTimeout(r, 20));
      }
      const seen = batches.length;
      await pub.send(["kv", seqFrame(2), Buffer.from(mk(12n))]); // seq 1 was lost
      await replayed;
      while (batches.length < seen + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const hashes = batches.slice(seen).map((b) => (b.events[0] as { hashes: bigint[] }).hashes[0]);
      expect(hashes).to.deep.equal([11n, 12n]);
      expect(sub.gaps).to.equal(1);
      expect(missing).to.deep.equal([1n]);
    } finally {
      sub.close();
      pub.close();
      replay.close();
    }
  });
});
