import { expect } from "chai";
import fc from "fast-check";
import { encode } from "@msgpack/msgpack";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as zmq from "zeromq";
import {
  decodeKvEventBatch,
  KvEventDecodeError,
  KvEventSubscriber,
  toBlockHash,
  type KvEventBatch,
} from "../../../engines/kv-events.js";
import { KvBlockIndex } from "../../../router/picking/kv-index.js";
import { until } from "../../support/until.js";
import { vllmVectors } from "../../support/vllm-vectors.js";

const vllmPayload = (name: string) => Buffer.from(vllmVectors.kvEvents[name]!, "hex");

function seqFrame(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

describe("vLLM KV events", () => {
  it(`decodes the map-form events vLLM ${vllmVectors.vllm} publishes, byte for byte`, () => {
    const stored = decodeKvEventBatch(vllmPayload("stored-int"));
    expect(stored.ts).to.equal(1764700000.25);
    expect(stored.dpRank).to.equal(0);
    expect(stored.events).to.deep.equal([
      {
        type: "BlockStored",
        hashes: [0xfedcba9876543210n, 7n],
        tokenIds: [0, 1, 2, 3, 4, 5, 6, 7],
        blockSize: 4,
        medium: "GPU",
      },
    ]);
    expect(decodeKvEventBatch(vllmPayload("stored-lora-extra")).events).to.deep.equal([
      {
        type: "BlockStored",
        hashes: [11n],
        parentHash: 0xfedcba9876543210n,
        tokenIds: [1, 2, 3, 4],
        blockSize: 4,
        loraId: 3,
        medium: "GPU",
        loraName: "sql-lora",
        extraKeys: [["sql-lora", "tenant-a"]],
        groupIdx: 1,
        kvCacheSpecKind: "full_attention",
      },
    ]);
    // Bytes hashes (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0) key like the ints: the digest's last 8 bytes.
    const bytes = decodeKvEventBatch(vllmPayload("stored-bytes"));
    expect(bytes.dpRank).to.equal(undefined);
    expect(bytes.events[0]).to.deep.include({
      hashes: [0x18191a1b1c1d1e1fn],
      parentHash: 0x0706050403020100n,
      medium: "CPU",
    });
    expect(decodeKvEventBatch(vllmPayload("removed")).events).to.deep.equal([
      { type: "BlockRemoved", hashes: [0xfedcba9876543210n], medium: "GPU", groupIdx: 0 },
    ]);
    expect(decodeKvEventBatch(vllmPayload("removed-cpu"))).to.deep.equal({
      ts: 4.5,
      dpRank: 1,
      events: [{ type: "BlockRemoved", hashes: [7n], medium: "CPU" }],
    });
    expect(decodeKvEventBatch(vllmPayload("cleared")).events).to.deep.equal([{ type: "AllBlocksCleared" }]);
  });

  it("decodes the 76-byte BlockRemoved payload seen from a running vLLM", () => {
    const observed = Buffer.from(
      "93cb41dac412f1c37106" +
        "9184a474797065ac426c6f636b52656d6f766564ac626c6f636b5f686173686573" +
        "91cf234774d99d3b44b5a66d656469756da3475055a967726f75705f696478" +
        "0000",
      "hex",
    );
    expect(observed).to.have.length(76);
    expect(decodeKvEventBatch(observed).events).to.deep.equal([
      { type: "BlockRemoved", hashes: [0x234774d99d3b44b5n], medium: "GPU", groupIdx: 0 },
    ]);
  });

  it("decodes array-form events (older vLLM, AIBrix): int64, negative and byte hashes", () => {
    const big = 0xfedcba9876543210n;
    const digest = Buffer.from("0102030405060708ffff", "hex");
    const payload = encode(
      [
        1.5,
        [
          ["BlockStored", [big, -1n, 7], null, [1, 2, 3], 16, null, "GPU", null],
          ["BlockStored", [digest], big, [4], 16],
          ["BlockRemoved", [7], "GPU", 1],
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
    expect(b).to.deep.include({ hashes: [0x030405060708ffffn], parentHash: big });
    expect(c).to.deep.equal({ type: "BlockRemoved", hashes: [7n], medium: "GPU", groupIdx: 1 });
    expect(d).to.deep.equal({ type: "AllBlocksCleared" });
  });

  it("rejects unknown tags and malformed batches with a clear message", () => {
    expect(() => decodeKvEventBatch(encode([0, [["BlockMoved", []]]]))).to.throw(
      KvEventDecodeError,
      /unknown event tag "BlockMoved"/,
    );
    expect(() => decodeKvEventBatch(encode({ ts: 1 }))).to.throw(KvEventDecodeError, /\[ts, \[events…\]/);
    expect(() => decodeKvEventBatch(encode([0, [{ block_hashes: [] }]]))).to.throw(KvEventDecodeError, /"type"/);
    expect(() => decodeKvEventBatch(encode([0, [{ type: "BlockStored" }]]))).to.throw(
      KvEventDecodeError,
      /BlockStored\.block_hashes must be an array/,
    );
    expect(() => decodeKvEventBatch(encode([0, [7]]))).to.throw(KvEventDecodeError, /must be a map/);
    expect(() => toBlockHash("abc")).to.throw(KvEventDecodeError, /neither an integer nor bytes/);
  });

  it("the block index keeps a block held while another medium or group still holds it", () => {
    const idx = new KvBlockIndex();
    const stored = (medium: string, groupIdx?: number) => ({
      ts: 0,
      events: [{ type: "BlockStored" as const, hashes: [1n, 2n], tokenIds: [], blockSize: 4, medium, groupIdx }],
    });
    idx.apply("a", stored("GPU"));
    idx.apply("a", stored("CPU"));
    idx.apply("a", { ts: 0, events: [{ type: "BlockRemoved", hashes: [1n, 2n], medium: "GPU" }] });
    expect(Object.fromEntries(idx.matchDepths([1n, 2n], ["a"]))).to.deep.equal({ a: 2 });
    idx.apply("a", { ts: 0, events: [{ type: "BlockRemoved", hashes: [2n], medium: "CPU" }] });
    expect(Object.fromEntries(idx.matchDepths([1n, 2n], ["a"]))).to.deep.equal({ a: 1 });
    // Removal from a group that never held the block changes nothing.
    idx.apply("a", { ts: 0, events: [{ type: "BlockRemoved", hashes: [1n], medium: "CPU", groupIdx: 1 }] });
    expect(idx.blocks("a")).to.equal(1);
  });

  it("weighs a prefix by where it lives: GPU first, then a tier to load from, then nothing", () => {
    const idx = new KvBlockIndex();
    const store = (id: string, hashes: bigint[], medium: string) =>
      idx.apply(id, { ts: 0, events: [{ type: "BlockStored", hashes, tokenIds: [], blockSize: 16, medium }] });
    const prefix = [1n, 2n, 3n, 4n];
    // The shared tier holds the whole prefix for every engine; "hot" also has the first three blocks in GPU.
    for (const id of ["hot", "warm"]) store(id, prefix, "CPU");
    store("hot", [1n, 2n, 3n], "GPU");
    store("gpu-only", [1n, 2n], "GPU");
    const depths = Object.fromEntries(idx.weightedDepths(prefix, ["hot", "warm", "gpu-only", "cold"], 0.5));
    expect(depths).to.deep.equal({ hot: 3 + 0.5 * 1, warm: 0.5 * 4, "gpu-only": 2 });
    // Weight 1 is the unweighted match; removing the GPU copy leaves the tier's.
    expect(Object.fromEntries(idx.weightedDepths(prefix, ["hot"], 1))).to.deep.equal({ hot: 4 });
    idx.apply("hot", { ts: 0, events: [{ type: "BlockRemoved", hashes: [1n], medium: "GPU" }] });
    expect(Object.fromEntries(idx.weightedDepths(prefix, ["hot"], 0.5))).to.deep.equal({ hot: 2 });
    idx.forget("hot");
    expect(idx.weightedDepths(prefix, ["hot"], 0.5).size).to.equal(0);
  });

  it("the block index answers as a plain record of every endpoint's blocks and places does, whatever the events", () => {
    type Ev =
      | {
          type: "BlockStored";
          hashes: bigint[];
          tokenIds: number[];
          blockSize: number;
          medium: string;
          groupIdx: number;
        }
      | { type: "BlockRemoved"; hashes: bigint[]; medium: string; groupIdx: number }
      | { type: "AllBlocksCleared" };
    const ids = ["a", "b", "c"];
    const hashes = fc.array(fc.bigInt({ min: 1n, max: 6n }), { minLength: 1, maxLength: 4 });
    const medium = fc.constantFrom("GPU", "GPU", "GPU", "CPU");
    const group = fc.constantFrom(0, 0, 1);
    const event: fc.Arbitrary<Ev> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc
          .record({ hashes, medium, groupIdx: group })
          .map((e) => ({ type: "BlockStored" as const, tokenIds: [], blockSize: 16, ...e })),
      },
      {
        weight: 4,
        arbitrary: fc.record({ hashes, medium, groupIdx: group }).map((e) => ({ type: "BlockRemoved" as const, ...e })),
      },
      { weight: 1, arbitrary: fc.constant({ type: "AllBlocksCleared" as const }) },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...ids), event), { maxLength: 60 }), (steps) => {
        const idx = new KvBlockIndex();
        const model = new Map<string, Map<bigint, Set<string>>>(ids.map((id) => [id, new Map()]));
        const query = [1n, 2n, 3n, 4n, 5n, 6n];
        for (const [id, ev] of steps) {
          idx.apply(id, { ts: 0, events: [ev] });
          const mine = model.get(id)!;
          if (ev.type === "AllBlocksCleared") mine.clear();
          else {
            const place = `${ev.medium}/${ev.groupIdx}`;
            for (const h of ev.hashes) {
              const places = mine.get(h) ?? new Set<string>();
              if (ev.type === "BlockStored") places.add(place);
              else places.delete(place);
              if (places.size > 0) mine.set(h, places);
              else mine.delete(h);
            }
          }
          const depth = (who: string, gpuOnly: boolean) => {
            let d = 0;
            for (const h of query) {
              const places = model.get(who)!.get(h);
              if (!places || (gpuOnly && ![...places].some((p) => p.startsWith("GPU/")))) break;
              d++;
            }
            return d;
          };
          const plain = Object.fromEntries(ids.filter((x) => depth(x, false) > 0).map((x) => [x, depth(x, false)]));
          const weighted = Object.fromEntries(
            ids
              .filter((x) => depth(x, false) > 0)
              .map((x) => [x, depth(x, true) + 0.5 * (depth(x, false) - depth(x, true))]),
          );
          expect(Object.fromEntries(idx.matchDepths(query, ids))).to.deep.equal(plain);
          expect(Object.fromEntries(idx.weightedDepths(query, ids, 0.5))).to.deep.equal(weighted);
          for (const x of ids) expect(idx.blocks(x)).to.equal(model.get(x)!.size);
        }
      }),
      { numRuns: 300 },
    );
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

  it("over ipc:// replays what was published before it subscribed, follows vLLM's replay frames, and sees restarts", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "kv-ipc-"));
    const pub = new zmq.Publisher({ linger: 0 });
    const replay = new zmq.Router({ linger: 0 });
    await pub.bind(`ipc://${dir}/kv.ipc`);
    await replay.bind(`ipc://${dir}/kvr.ipc`);
    const history = [0, 1, 2].map((seq) => [seqFrame(seq), vllmPayload(seq === 1 ? "removed" : "stored-int")] as const);
    // vLLM ≥ 0.30 replays [id, "", topic, seq, payload] and ends with [id, "", "", END_SEQ, ""].
    const served: bigint[] = [];
    void (async () => {
      for await (const [id, , start] of replay) {
        const from = Buffer.from(start!).readBigUInt64BE(0);
        served.push(from);
        for (const [seq, payload] of history) {
          if (seq.readBigUInt64BE(0) >= from) await replay.send([id!, Buffer.alloc(0), "kv", seq, payload]);
        }
        await replay.send([id!, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(8, 0xff), Buffer.alloc(0)]);
      }
    })().catch(() => undefined);
    const seen: string[] = [];
    let restarts = 0;
    const sub = new KvEventSubscriber({
      endpoint: `ipc://${dir}/kv.ipc`,
      replayEndpoint: `ipc://${dir}/kvr.ipc`,
      topic: "kv",
      onBatch: (b) => seen.push(b.events.map((e) => e.type).join(",")),
      onRestart: () => restarts++,
    });
    sub.start();
    try {
      // The engine is already at seq 3 when the router arrives: 0–2 come from the replay socket.
      // Slow joiner: publish seq 3 until the subscriber has it.
      const deadline = Date.now() + 5000;
      while (seen.length === 0 && Date.now() < deadline) {
        await pub.send(["kv", seqFrame(3), vllmPayload("cleared")]);
        await new Promise((r) => setTimeout(r, 20));
      }
      await until("the replayed history and seq 3", () => seen.length >= 4);
      expect(served[0]).to.equal(0n);
      expect(seen.slice(0, 4)).to.deep.equal(["BlockStored", "BlockRemoved", "BlockStored", "AllBlocksCleared"]);
      // The engine restarts: its sequence begins again at 0, and what was learnt from it is dropped first.
      history.length = 0;
      const before = seen.length;
      await pub.send(["kv", seqFrame(0), vllmPayload("stored-int")]);
      await until("the first batch after the restart", () => seen.length > before);
      expect(restarts).to.equal(1);
      expect(sub.gaps).to.equal(0);
    } finally {
      sub.close();
      pub.close();
      replay.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
