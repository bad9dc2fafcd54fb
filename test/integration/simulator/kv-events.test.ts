import { expect } from "chai";
import { decode } from "@msgpack/msgpack";
import { Dealer, Subscriber } from "zeromq";
import { blockKeys } from "../../../api/block-hash.js";
import { tokenize } from "../../../api/tokens.js";
import { ModelTokenizer } from "../../../api/model-tokenizer.js";
import { decodeKvEventBatch } from "../../../engines/kv-events.js";
import { SIMULATOR_TOKENIZER_DIR, startSimulator, type RunningSimulator } from "../../../simulator/index.js";

type WireEvent = Record<string, unknown>;
type Wire = [number, WireEvent[], number];

describe("simulator KV events over ZMQ (real SUB socket)", function () {
  this.timeout(20000);
  let sim: RunningSimulator;
  let sub: Subscriber;

  before(async () => {
    // A tiny cache (8 blocks) so a second prompt must evict the first one's blocks.
    sim = await startSimulator({
      model: "m",
      speedup: 50,
      kvEventsPort: 0,
      kvEventsReplayPort: 0,
      numGpuBlocks: 8,
      maxModelLen: 128,
    });
    sub = new Subscriber({ receiveTimeout: 5000 });
    sub.connect(sim.kvEventsEndpoint!);
    sub.subscribe("kv@");
    // PUB/SUB joins asynchronously: wait until a probe batch arrives.
    await new Promise((r) => setTimeout(r, 300));
  });
  after(async () => {
    sub.close();
    await sim.close();
  });

  async function post(prompt: string): Promise<void> {
    const res = await fetch(`${sim.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", prompt, max_tokens: 1 }),
    });
    expect(res.status).to.equal(200);
    await res.text();
  }

  async function receive(): Promise<{ topic: string; seq: bigint; batch: Wire }> {
    const [topic, seq, payload] = await sub.receive();
    return {
      topic: topic!.toString(),
      seq: seq!.readBigUInt64BE(),
      batch: decode(payload!, { useBigInt64: true }) as Wire,
    };
  }

  it("publishes BlockStored as vLLM 0.32's tagged map, keyed by vLLM's block hash of the prompt", async () => {
    const prompt =
      "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " +
      "sixteen seventeen eighteen nineteen twenty twentyone twentytwo";
    await post(prompt);
    const msg = await receive();
    expect(msg.topic).to.equal(`kv@${sim.host}:${sim.port}@m`);
    expect(msg.seq).to.equal(0n);
    const [ts, events, dpRank] = msg.batch;
    expect(ts).to.be.a("number");
    expect(dpRank).to.equal(0);
    const stored = events.find((e) => e.type === "BlockStored")!;
    const ids = tokenize(prompt);
    const expected = blockKeys(ids, 16, { algo: "sha256" });
    expect(Object.keys(stored)).to.deep.equal([
      "type",
      "block_hashes",
      "parent_block_hash",
      "token_ids",
      "block_size",
      "lora_id",
      "medium",
      "lora_name",
      "group_idx",
    ]);
    expect((stored.block_hashes as bigint[]).map((h) => BigInt(h))).to.deep.equal(expected);
    expect(stored).to.deep.include({
      parent_block_hash: null,
      token_ids: ids.slice(0, expected.length * 16),
      block_size: 16,
      lora_id: null,
      medium: "GPU",
      lora_name: null,
      group_idx: 0,
    });
  });

  it("publishes BlockRemoved when allocation evicts cached blocks, and AllBlocksCleared on reset", async () => {
    // Fill the 8-block cache with other prompts until the first prompt's blocks are evicted.
    const seen: WireEvent[] = [];
    for (let i = 0; i < 3; i++) {
      await post(`prompt ${i} ` + "alpha beta gamma delta ".repeat(10));
      seen.push(...(await receive()).batch[1]);
    }
    const removed = seen.filter((e) => e.type === "BlockRemoved");
    expect(removed.length).to.be.greaterThan(0);
    expect(Object.keys(removed[0]!)).to.deep.equal(["type", "block_hashes", "medium", "group_idx"]);
    expect(removed[0]!.medium).to.equal("GPU");
    const res = await fetch(`${sim.url}/reset_prefix_cache`, { method: "POST" });
    expect(res.status).to.equal(200);
    const msg = await receive();
    expect(msg.batch[1]).to.deep.equal([{ type: "AllBlocksCleared" }]);
  });

  it("replays buffered batches from a sequence number as vLLM 0.32 does (topic frame), ending with seq -1", async () => {
    const dealer = new Dealer({ receiveTimeout: 3000, linger: 0 });
    try {
      dealer.connect(sim.kvEventsReplayEndpoint!);
      const start = Buffer.alloc(8);
      start.writeBigUInt64BE(1n);
      await dealer.send([Buffer.alloc(0), start]);
      const seqs: bigint[] = [];
      for (;;) {
        const [empty, topic, seq, payload] = await dealer.receive();
        expect(empty!.length).to.equal(0);
        if (seq!.equals(Buffer.alloc(8, 0xff))) {
          expect(topic!.length).to.equal(0);
          break;
        }
        expect(topic!.toString()).to.equal(sim.kvEventsTopic);
        seqs.push(seq!.readBigUInt64BE());
        expect(decode(payload!, { useBigInt64: true }))
          .to.be.an("array")
          .with.length(3);
      }
      expect(seqs[0]).to.equal(1n);
      expect(seqs.length).to.be.greaterThan(2);
      expect(seqs).to.deep.equal(seqs.map((_, i) => BigInt(i + 1)));
    } finally {
      dealer.close();
    }
  });

  it("refuses a replay port without a publisher", async () => {
    await startSimulator({ model: "m", kvEventsReplayPort: 0 }).then(
      () => expect.fail("should reject"),
      (e: Error) => expect(e.message).to.match(/^kvEventsReplayPort: 0 needs kvEventsPort/),
    );
  });
});

describe("simulator with the model's tokenizer", function () {
  this.timeout(20000);

  it("counts and hashes the token ids the model's tokenizer and chat template give, as vLLM does", async () => {
    const sim = await startSimulator({ model: "m", speedup: 50, kvEventsPort: 0, tokenizer: SIMULATOR_TOKENIZER_DIR });
    const sub = new Subscriber({ receiveTimeout: 5000 });
    try {
      sub.connect(sim.kvEventsEndpoint!);
      sub.subscribe("");
      await new Promise((r) => setTimeout(r, 300));
      const tok = await ModelTokenizer.load(SIMULATOR_TOKENIZER_DIR);
      const messages = [{ role: "user", content: "Which engine holds the blocks of this prompt? ".repeat(4) }];
      const res = await fetch(`${sim.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", messages, max_tokens: 1 }),
      });
      const body = (await res.json()) as { usage: { prompt_tokens: number } };
      const ids = tok.chatTokenIds(messages);
      expect(body.usage.prompt_tokens).to.equal(ids.length);
      const [, , payload] = await sub.receive();
      const batch = decodeKvEventBatch(payload!);
      const stored = batch.events.find((e) => e.type === "BlockStored");
      expect(stored && stored.type === "BlockStored" && stored.hashes).to.deep.equal(
        blockKeys(ids, 16, { algo: "sha256" }),
      );
    } finally {
      sub.close();
      await sim.close();
    }
  });
});
