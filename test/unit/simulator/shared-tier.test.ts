import { expect } from "chai";
import { Engine, type EngineConfig } from "../../../simulator/engine.js";
import type { KvEvent } from "../../../simulator/kv-cache.js";
import { eventToWire } from "../../../simulator/kv-events.js";
import { runTrace, uniquePrompt } from "../../../simulator/offline.js";
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
