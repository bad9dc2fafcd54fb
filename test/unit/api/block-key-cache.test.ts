import { expect } from "chai";
import fc from "fast-check";
import { blockDigests, blockKeys, type BlockHashOptions } from "../../../api/block-hash.js";
import { blockBytes, BlockKeyCache } from "../../../api/block-key-cache.js";
import { heapHeldBy } from "../../support/heap.js";
import { seededRandom } from "../../support/seeded-random.js";
import { vllmVectors } from "../../support/vllm-vectors.js";

const optionsArb: fc.Arbitrary<BlockHashOptions> = fc.record(
  {
    algo: fc.constantFrom("sha256" as const, "sha256_cbor" as const),
    seed: fc.constantFrom("0", "42"),
    lora: fc.record({ name: fc.constantFrom("a", "b"), path: fc.constantFrom("/a", "/b") }),
    cacheSalt: fc.constantFrom("s", "t"),
  },
  { requiredKeys: ["algo"] },
);

describe("block key cache", () => {
  it(`gives vLLM ${vllmVectors.vllm}'s own block hashes, cold and warm`, () => {
    const cache = new BlockKeyCache(1 << 20);
    for (const round of ["cold", "warm"]) {
      for (const v of vllmVectors.blockHashes) {
        const what = `${round}: ${v.algo} seed=${v.seed} bs=${v.blockSize} lora=${v.lora?.name} salt=${v.cacheSalt}`;
        const opts: BlockHashOptions = { algo: v.algo };
        if (v.seed !== null) opts.seed = v.seed;
        if (v.lora) opts.lora = v.lora;
        if (v.cacheSalt !== null) opts.cacheSalt = v.cacheSalt;
        expect(
          cache.digests(v.tokens, v.blockSize, opts).map((d) => d.toString("hex")),
          what,
        ).to.deep.equal(v.digests);
        expect(cache.keys(v.tokens, v.blockSize, opts).map(String), what).to.deep.equal(v.eventHashes);
      }
    }
    expect(cache.hits).to.be.greaterThan(0);
  });

  it("answers exactly as uncached hashing over random prompts sharing prefixes, options and block sizes (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 70 }),
        fc.array(
          fc.record({
            keep: fc.nat(70),
            tail: fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 40 }),
            blockSize: fc.integer({ min: 1, max: 9 }),
            opts: optionsArb,
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.integer({ min: 0, max: 20_000 }),
        fc.boolean(),
        (base, prompts, budget, reusePaths) => {
          // A small budget makes evictions (and orphaned children) part of the property; a clock that never moves
          // makes every prompt that shares a walked path's start reuse it, one that jumps a second makes none.
          let now = 0;
          const cache = new BlockKeyCache(budget, { now: () => (reusePaths ? now : (now += 1000)) });
          for (const { keep, tail, blockSize, opts } of prompts) {
            const tokens = [...base.slice(0, keep), ...tail];
            expect(cache.keys(tokens, blockSize, opts)).to.deep.equal(blockKeys(tokens, blockSize, opts));
            expect(cache.bytes).to.be.at.most(budget);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("hashes a shared prefix once, and the same tokens under another parent, salt or adapter apart", () => {
    const cache = new BlockKeyCache(1 << 20);
    const prefix = Array.from({ length: 64 }, (_, i) => i);
    const a = [...prefix, 1000, 1001, 1002, 1003];
    const b = [...prefix, 2000, 2001, 2002, 2003];
    cache.keys(a, 4, { algo: "sha256_cbor" });
    expect(cache.misses).to.equal(17);
    cache.keys(b, 4, { algo: "sha256_cbor" });
    expect([cache.hits, cache.misses]).to.deep.equal([16, 18]);
    // Block 2's tokens again, but after another first block: another parent, another key.
    const moved = [99, 99, 99, 99, ...prefix.slice(4)];
    expect(cache.keys(moved, 4, { algo: "sha256_cbor" })).to.deep.equal(blockKeys(moved, 4, { algo: "sha256_cbor" }));
    for (const opts of [
      { algo: "sha256_cbor" as const, cacheSalt: "x" },
      { algo: "sha256_cbor" as const, lora: { name: "l", path: "/l" } },
      { algo: "sha256" as const },
      { algo: "sha256_cbor" as const, seed: "7" },
    ]) {
      expect(cache.keys(a, 4, opts), JSON.stringify(opts)).to.deep.equal(blockKeys(a, 4, opts));
    }
  });

  it("compares the token ids on a hit, so a token-hash collision is a miss, not a wrong key", () => {
    const cache = new BlockKeyCache(1 << 20);
    // Two 2-token blocks with one FNV-1a hash: pick the second block's last token to cancel the first difference.
    const fnvStep = (h: number, x: number) => Math.imul(h ^ x, 0x01000193);
    const basis = 0x811c9dc5;
    const first = [0, 0];
    const second = [1, (fnvStep(basis, 0) ^ fnvStep(basis, 1)) >>> 0];
    const fnv = (t: number[]) => t.reduce(fnvStep, basis) >>> 0;
    expect(fnv(second)).to.equal(fnv(first));
    for (const t of [first, second, first]) {
      expect(cache.keys(t, 2, { algo: "sha256" })).to.deep.equal(blockKeys(t, 2, { algo: "sha256" }));
    }
  });

  it("stays within its byte budget, least recently used out first", () => {
    const cache = new BlockKeyCache(20_000);
    for (let i = 0; i < 200; i++)
      cache.keys(
        Array.from({ length: 64 }, (_, j) => i * 1000 + j),
        16,
        { algo: "sha256" },
      );
    expect(cache.bytes).to.be.at.most(20_000).and.greaterThan(10_000);
    const recent = Array.from({ length: 64 }, (_, j) => 199 * 1000 + j);
    const misses = cache.misses;
    cache.keys(recent, 16, { algo: "sha256" });
    expect(cache.misses).to.equal(misses);
    const digests = blockDigests(recent, 16, { algo: "sha256" });
    expect(cache.digests(recent, 16, { algo: "sha256" })).to.deep.equal(digests);
  });

  it("evicts in exactly least-recently-used order, block by block, under random walks (property)", () => {
    // Reference: a list of blocks (named by their token path) moved to the end when used, oldest dropped past the
    // budget at once, as each block is met in walk order.
    const blockSize = 4;
    const perBlock = blockBytes(blockSize);
    const room = 12;
    const chain = fc.tuple(fc.nat(3), fc.nat(5), fc.nat(3));
    fc.assert(
      fc.property(fc.array(chain, { minLength: 1, maxLength: 60 }), (walks) => {
        // Without walked paths: every walk moves every block it meets.
        const cache = new BlockKeyCache(room * perBlock, { pathReuseMs: 0 });
        const order: string[] = [];
        let hits = 0;
        for (const [stem, length, branch] of walks) {
          // Prompts share a stem's first blocks, then branch: hits, misses and evictions interleave.
          const ids = Array.from({ length: (length + 1) * blockSize }, (_, i) =>
            i < 2 * blockSize ? stem * 100 + i : stem * 100 + branch * 10 + (i % 7),
          );
          for (let b = 0; b < length + 1; b++) {
            const name = ids.slice(0, (b + 1) * blockSize).join(",");
            const at = order.indexOf(name);
            if (at >= 0) {
              hits++;
              order.splice(at, 1);
            }
            order.push(name);
            while (order.length > room) order.shift();
          }
          cache.keys(ids, blockSize, { algo: "sha256" });
          expect(cache.hits, "hits as the reference LRU has them").to.equal(hits);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("takes a walked path's blocks for a prompt sharing its start, for a second, then walks in full again", () => {
    let now = 0;
    const cache = new BlockKeyCache(1 << 20, { now: () => now });
    const doc = Array.from({ length: 64 }, (_, i) => 7 * i);
    const ask = (question: number) => [...doc, question, question + 1, question + 2, question + 3];
    const opts = { algo: "sha256" as const };
    cache.keys(ask(1000), 4, opts); // 17 new blocks: a chain start seen once keeps no path
    cache.keys(ask(1000), 4, opts); // seen again: walked in full, the walk is the path
    expect(cache.pathHits).to.equal(0);
    const walked = cache.hits + cache.misses;
    expect(cache.keys(ask(2000), 4, opts)).to.deep.equal(blockKeys(ask(2000), 4, opts));
    // The 16 shared blocks came from the path; the question's block missed.
    expect([cache.pathHits, cache.hits, cache.misses, cache.hits + cache.misses - walked]).to.deep.equal([
      16, 33, 18, 17,
    ]);
    // A prompt that leaves the path inside a block (at id 30, in block 7) takes the blocks before it only.
    const early = [...doc.slice(0, 30), 5, ...doc.slice(31)];
    expect(cache.keys(early, 4, opts)).to.deep.equal(blockKeys(early, 4, opts));
    expect(cache.pathHits).to.equal(16 + 7);
    now = 1000; // the path is a second old: walked in full, and the walk is the path from now on
    expect(cache.keys(ask(3000), 4, opts)).to.deep.equal(blockKeys(ask(3000), 4, opts));
    expect(cache.pathHits).to.equal(16 + 7);
    expect(cache.keys(ask(3000), 4, opts)).to.deep.equal(blockKeys(ask(3000), 4, opts));
    expect(cache.pathHits).to.equal(16 + 7 + 17);
  });

  it("keeps a document used more often than once a second, walking it in full about once a second", () => {
    let now = 0;
    const opts = { algo: "sha256" as const };
    const doc = Array.from({ length: 64 }, (_, i) => 7 * i);
    // Room for 120 blocks; 18 others arrive every 300 ms, so the LRU turns over in about 2 s: the document's blocks
    // survive only if a walk in full moves them at least that often.
    const cache = new BlockKeyCache(120 * blockBytes(4), { now: () => now });
    let fullWalks = 0;
    for (let i = 0; i < 40; i++) {
      now = i * 300;
      const [misses, pathHits] = [cache.misses, cache.pathHits];
      cache.keys([...doc, i, i, i, i], 4, opts);
      if (i > 0) expect(cache.misses - misses, `the document's blocks at ${now} ms`).to.equal(1);
      if (i > 1 && cache.pathHits === pathHits) fullWalks++;
      cache.keys(
        Array.from({ length: 68 }, (_, j) => 100_000 * (i + 1) + j),
        4,
        opts,
      );
    }
    // 12 s: a walk in full every 1.2 s (the first prompt after the path turns a second old).
    expect(fullWalks).to.be.within(9, 11);
  });

  it("counts a walked path's bytes against the budget, and keeps none for a chain start seen once", () => {
    const perBlock = blockBytes(4);
    const cache = new BlockKeyCache(17 * perBlock + 100);
    const prompt = Array.from({ length: 68 }, (_, i) => i);
    cache.keys(prompt, 4, { algo: "sha256" });
    expect(cache.bytes).to.equal(17 * perBlock);
    cache.keys(prompt, 4, { algo: "sha256" });
    // 17 blocks fit alone; their path's copy of 68 ids does not fit beside them, so the oldest block, the chain's
    // first, went, and its path with it.
    expect(cache.bytes).to.equal(16 * perBlock);
  });

  it("holds about its budget in heap once full, at vLLM's GPU and CPU block sizes", function () {
    this.timeout(20_000);
    const budget = 8 * 2 ** 20;
    for (const blockSize of [16, 128]) {
      const { held, estimate } = fillWithNewBlocks(budget, blockSize);
      expect(estimate, `estimate at block size ${blockSize}`).to.be.within(budget - blockBytes(blockSize), budget);
      // The estimate is the heap the blocks hold: over it, the budget would not bound memory; far under, it wastes it.
      expect(held / budget, `heap over budget at block size ${blockSize}`).to.be.within(0.85, 1.05);
    }
  });
});

/** A cache of `budget` bytes after prompts nobody repeats, past twice its budget: the heap it holds, its estimate. */
function fillWithNewBlocks(budget: number, blockSize: number): { held: number; estimate: number } {
  const random = seededRandom(blockSize);
  const { held, built: cache } = heapHeldBy(() => {
    const filled = new BlockKeyCache(budget);
    const prompts = Math.ceil((2 * budget) / blockBytes(blockSize) / 20);
    for (let p = 0; p < prompts; p++) {
      const ids = Array.from({ length: 20 * blockSize }, () => Math.floor(random() * 50_000));
      filled.keys(ids, blockSize, { algo: "sha256" });
    }
    return filled;
  });
  return { held, estimate: cache.bytes };
}
