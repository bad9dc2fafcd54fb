import { expect } from "chai";
import { Engine, type EngineConfig } from "../../../simulator/engine.js";
import type { KvEvent } from "../../../simulator/kv-cache.js";
import { eventToWire } from "../../../simulator/kv-events.js";
import { runTrace, uniquePrompt } from "../../../simulator/offline.js";
import { EngineLoop } from "../../../simulator/loop.js";
import { SharedKvTier } from "../../../simulator/shared-tier.js";

const base: EngineConfig = {
  blockSize: 16,
  numGpuBlocks: 24,
  maxNumSeqs: 4,
  maxNumBatchedTokens: 512,
  maxModelLen: 384,
  maxLoras: 1,
  loraLoadSeconds: 0,
  step: { b0: 0.01, b1: 0.0001, b2: 0.001, b3: 0 },
};
/** 1 MiB per block over 1 GiB/s: 1/1024 s per block loaded. */
const tierConfig = { capacityBlocks: 100, bytesPerBlock: 2 ** 20, bandwidthBytesPerSecond: 2 ** 30 };
const close = (a: number, b: number) => expect(a).to.be.closeTo(b, 1e-9);

describe("simulator shared KV tier", () => {
  it("keeps blocks an engine computed; another engine loads the prefix at the bandwidth cost instead of computing it", () => {
    const tier = new SharedKvTier(tierConfig);
    const a = new Engine(base, { sharedTier: tier });
    const doc = uniquePrompt(1, 320); // 20 blocks: the whole GPU pool of 24 nearly
    runTrace(base, [{ at: 0, promptTokens: doc, maxTokens: 1 }], a);
    // Two other prompts take the pool: every block of the document is evicted into the tier (the suffix first).
    runTrace(base, [{ at: 0, promptTokens: uniquePrompt(2, 320), maxTokens: 1 }], a);
    runTrace(base, [{ at: 0, promptTokens: uniquePrompt(3, 320), maxTokens: 1 }], a);
    const b = new Engine(base, { sharedTier: tier });
    const run = runTrace(base, [{ at: 0, promptTokens: doc, maxTokens: 1 }], b);
    // 19 of the 20 full blocks (the last token is always computed): loaded, not computed, at 1/1024 s each.
    expect(tier.loadedBlocks).to.equal(19);
    close(run.results[0]!.ttft, 0.01 + (320 - 19 * 16) * 0.0001 + 19 / 1024);
    expect(tier.hits).to.equal(1);
  });

  it("counts tier loads as external prefix-cache hits and only GPU hits as prefix-cache hits (vLLM's split)", () => {
    const tier = new SharedKvTier(tierConfig);
    const a = new Engine(base, { sharedTier: tier });
    const doc = uniquePrompt(1, 320);
    runTrace(base, [{ at: 0, promptTokens: doc, maxTokens: 1 }], a);
    runTrace(base, [{ at: 0, promptTokens: uniquePrompt(2, 320), maxTokens: 1 }], a);
    runTrace(base, [{ at: 0, promptTokens: uniquePrompt(3, 320), maxTokens: 1 }], a);
    const b = new Engine(base, { sharedTier: tier });
    const gpu: number[][] = [];
    const external: number[][] = [];
    b.observer = {
      onPrefixLookup: (q, h) => gpu.push([q, h]),
      onExternalLookup: (q, h) => external.push([q, h]),
    };
    runTrace(base, [{ at: 0, promptTokens: doc, maxTokens: 1 }], b);
    runTrace(base, [{ at: 1, promptTokens: doc, maxTokens: 1 }], b);
    // First: nothing in b's GPU, 19 blocks from the tier. Second: those 19 blocks are now in b's GPU.
    expect(gpu).to.deep.equal([
      [320, 0],
      [320, 19 * 16],
    ]);
    expect(external).to.deep.equal([
      [320, 19 * 16],
      [320, 0],
    ]);
  });

  it("offloads each block once computed, as vLLM's offloading connector does: it lands when the next step ends", () => {
    const tier = new SharedKvTier(tierConfig);
    const a = new Engine(base, { sharedTier: tier });
    const doc = uniquePrompt(1, 320);
    let generated = 0;
    a.submit(
      {
        id: "r",
        promptTokens: doc,
        maxTokens: 3,
        finishReason: "length",
        outputToken: (i) => 1000 + i,
        onToken: () => generated++,
        onFinish: () => undefined,
      },
      0,
    );
    const prefill = a.plan(0)!;
    a.commit(prefill, prefill.duration);
    // Stores are submitted with the next step: nothing in the tier yet, though a's GPU holds all 20 blocks.
    expect(tier.size).to.equal(0);
    const decode = a.plan(prefill.duration)!;
    a.commit(decode, prefill.duration + decode.duration);
    expect(tier.size).to.equal(20);
    // Still in a's GPU (nothing was evicted): another engine loads the prefix from the tier all the same.
    const gpuRemovals = a.drainKvEvents().filter((e) => e.type === "BlockRemoved" && e.medium === undefined);
    expect(gpuRemovals).to.deep.equal([]);
    const b = new Engine(base, { sharedTier: tier });
    runTrace(base, [{ at: 0, promptTokens: doc, maxTokens: 1 }], b);
    expect(tier.loadedBlocks).to.equal(19);
    expect(generated).to.equal(2);
  });

  it("without a tier the same sequence recomputes the whole prompt", () => {
    const doc = uniquePrompt(1, 320);
    const b = new Engine(base);
    const run = runTrace(base, [{ at: 0, promptTokens: doc, maxTokens: 1 }], b);
    close(run.results[0]!.ttft, 0.01 + 320 * 0.0001);
  });

  it("evicts least recently used beyond capacity and reports both as KV events with medium CPU on every engine", () => {
    const tier = new SharedKvTier({ ...tierConfig, capacityBlocks: 3 });
    const engines = [new Engine(base, { sharedTier: tier }), new Engine(base, { sharedTier: tier })];
    for (const e of engines) e.drainKvEvents();
    tier.put([1n, 2n, 3n]);
    tier.markLoaded([1n], 0, 1); // 1 becomes most recent: 2 is next out
    tier.put([4n]);
    expect(tier.prefixRun([1n, 3n, 4n], 0, 3)).to.equal(3);
    expect(tier.prefixRun([2n], 0, 1)).to.equal(0);
    for (const e of engines) {
      const events = e.drainKvEvents();
      expect(events.map((ev) => [ev.type, "blockHashes" in ev ? ev.blockHashes : []])).to.deep.equal([
        ["BlockStored", [1n, 2n, 3n]],
        ["BlockStored", [4n]],
        ["BlockRemoved", [2n]],
      ]);
      const wire = events.map((ev: KvEvent) => eventToWire(ev));
      expect(wire.map((w) => w.medium)).to.deep.equal(["CPU", "CPU", "CPU"]);
      expect(wire[0]!.block_size).to.equal(16);
    }
    engines[1]!.detach();
    tier.put([5n]);
    expect(engines[1]!.drainKvEvents()).to.deep.equal([]);
    expect(engines[0]!.drainKvEvents().map((e) => e.type)).to.deep.equal(["BlockStored", "BlockRemoved"]);
  });

  it("refuses a configuration that cannot work, naming the field", () => {
    expect(() => new SharedKvTier({ ...tierConfig, bandwidthBytesPerSecond: 0 })).to.throw(/bandwidthBytesPerSecond/);
  });
});

describe("simulator shared KV tier: loads run beside the batch, as vLLM's offloading connector loads", () => {
  /** A tier holding the full blocks of `docs`, computed by an engine of its own. */
  function tierWith(...docs: number[][]): SharedKvTier {
    const tier = new SharedKvTier(tierConfig);
    const a = new Engine({ ...base, numGpuBlocks: 64 }, { sharedTier: tier });
    for (const doc of docs) runTrace(base, [{ at: 0, promptTokens: doc, maxTokens: 1 }], a);
    return tier;
  }
  const load19 = 19 / 1024;

  it("a decoding request's steps keep their time while another's prefix loads; that one runs at the next step end", () => {
    const doc = uniquePrompt(1, 320);
    const b = new Engine(base, { sharedTier: tierWith(doc) });
    const run = runTrace(
      base,
      [
        { at: 0, promptTokens: uniquePrompt(9, 32), maxTokens: 10 },
        { at: 0.02, promptTokens: doc, maxTokens: 1 },
      ],
      b,
    );
    // Steps end at 0.0132 (prefill), then every 0.011 (decode). The document arrives at 0.02 and starts loading when
    // the step at 0.0242 ends; the load is done at 0.0242 + 19/1024 = 0.04276, which the step ending 0.0462 reports;
    // its last 16 tokens are computed in the next step, beside the decode (0.01 + 16 × 0.0001 + 0.001).
    const [decoding, loaded] = run.results;
    const expected = [0.011, 0.011, 0.011, 0.0126, 0.011, 0.011, 0.011, 0.011, 0.011];
    decoding!.itls.forEach((itl, i) => close(itl, expected[i]!));
    close(loaded!.ttft, 0.0462 + 0.0126 - 0.02);
  });

  it("a request whose blocks another request is loading waits for that load, then finds them in GPU KV", () => {
    const doc = uniquePrompt(1, 320);
    const tier = tierWith(doc);
    const b = new Engine(base, { sharedTier: tier });
    const gpu: number[][] = [];
    const external: number[][] = [];
    b.observer = {
      onPrefixLookup: (q, h) => gpu.push([q, h]),
      onExternalLookup: (q, h) => external.push([q, h]),
    };
    const before = tier.loadedBlocks;
    const run = runTrace(
      base,
      [
        { at: 0, promptTokens: doc, maxTokens: 1 },
        { at: 0, promptTokens: doc, maxTokens: 1 },
      ],
      b,
    );
    expect(tier.loadedBlocks - before).to.equal(19);
    expect(gpu).to.deep.equal([
      [320, 0],
      [320, 19 * 16],
    ]);
    expect(external).to.deep.equal([
      [320, 19 * 16],
      [320, 0],
    ]);
    // Both compute their last 16 tokens in the step after the load.
    for (const r of run.results) close(r.ttft, load19 + 0.01 + 32 * 0.0001);
  });

  it("loads queue on the engine's link to the tier, and one starts only when the whole prompt fits beside the others", () => {
    const [d1, d2] = [uniquePrompt(1, 320), uniquePrompt(2, 320)];
    const twoDocs = (numGpuBlocks: number) =>
      runTrace(
        { ...base, numGpuBlocks },
        [
          { at: 0, promptTokens: d1, maxTokens: 1 },
          { at: 0, promptTokens: d2, maxTokens: 1 },
        ],
        new Engine({ ...base, numGpuBlocks }, { sharedTier: tierWith(d1, d2) }),
      ).results.map((r) => r.ttft);
    const prefill16 = 0.01 + 16 * 0.0001;
    // Room for both prompts: both loads start at 0, the second after the first on the link.
    const [a, b] = twoDocs(48);
    close(a!, load19 + prefill16);
    close(b!, 2 * load19 + prefill16);
    // 24 blocks: the second prompt (20 blocks) does not fit beside the first's load; it starts once the first is done.
    const [c, d] = twoDocs(24);
    close(c!, load19 + prefill16);
    close(d!, load19 + prefill16 + load19 + prefill16);
  });

  it("a loading request holds its blocks and counts as waiting; aborting it frees them", () => {
    const doc = uniquePrompt(1, 320);
    const b = new Engine(base, { sharedTier: tierWith(doc) });
    b.submit(
      {
        id: "doc",
        promptTokens: doc,
        maxTokens: 1,
        finishReason: "length",
        outputToken: () => 1,
        onToken: () => undefined,
        onFinish: () => undefined,
      },
      0,
    );
    const wait = b.plan(0)!;
    expect(wait.work).to.deep.equal([]);
    expect(wait.tierBlocks).to.equal(19);
    close(wait.duration, load19);
    expect([b.numRunning, b.numWaiting, b.pool.freeBlocks]).to.deep.equal([0, 1, 24 - 19]);
    b.abort("doc", 0.001);
    expect([b.hasWork(), b.numWaiting, b.pool.freeBlocks]).to.deep.equal([false, 0, 24]);
  });

  it("in real time, a request arriving while the engine only waits on a load is scheduled at once", async () => {
    // 1 MiB per block over 1 MiB/s: the document's 19 blocks load for 19 simulated seconds (0.19 s at speedup 100).
    const slowTier = new SharedKvTier({ ...tierConfig, bandwidthBytesPerSecond: 2 ** 20 });
    const doc = uniquePrompt(1, 320);
    runTrace(base, [{ at: 0, promptTokens: doc, maxTokens: 1 }], new Engine(base, { sharedTier: slowTier }));
    const b = new Engine(base, { sharedTier: slowTier });
    const loop = new EngineLoop(b, 100);
    const submit = (id: string, promptTokens: number[], onFirst: (ttft: number) => void) => {
      const at = loop.now();
      b.submit(
        {
          id,
          promptTokens,
          maxTokens: 1,
          finishReason: "length",
          outputToken: () => 1,
          onToken: (_, t) => onFirst(t - at),
          onFinish: () => undefined,
        },
        at,
      );
      loop.kick(at);
    };
    try {
      submit("doc", doc, () => undefined);
      await new Promise((r) => setTimeout(r, 20));
      const ttft = await new Promise<number>((resolve) => submit("short", uniquePrompt(9, 32), resolve));
      close(ttft, 0.01 + 32 * 0.0001);
      expect(b.numWaiting).to.equal(1);
    } finally {
      loop.stop();
    }
  });
});
