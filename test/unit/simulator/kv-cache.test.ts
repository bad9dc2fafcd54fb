import { expect } from "chai";
import { BlockPool } from "../../../simulator/kv-cache.js";

describe("simulator/kv-cache BlockPool", () => {
  it("allocates from free blocks and refuses when too few are free", () => {
    const pool = new BlockPool(4);
    const a = pool.allocate(3);
    expect(a).to.have.length(3);
    expect(pool.freeBlocks).to.equal(1);
    expect(pool.usage()).to.equal(0.75);
    expect(pool.allocate(2)).to.equal(null);
  });

  it("keeps released full blocks cached and hands them back as prefix hits", () => {
    const pool = new BlockPool(4);
    const ids = pool.allocate(2) as number[];
    expect(pool.store(ids[0] as number, 11n)).to.equal(true);
    expect(pool.store(ids[1] as number, 22n)).to.equal(true);
    pool.release(ids);
    expect(pool.freeBlocks).to.equal(4);
    expect(pool.longestCachedPrefix([11n, 22n, 33n])).to.equal(2);
    expect(pool.longestCachedPrefix([33n, 11n])).to.equal(0);
    const hit = pool.acquireCached([11n, 22n], 2);
    expect(hit).to.deep.equal(ids);
    expect(pool.freeBlocks).to.equal(2);
  });

  it("evicts the least recently freed blocks, a request's suffix before its prefix, and reports removals", () => {
    const pool = new BlockPool(3);
    const ids = pool.allocate(3) as number[];
    ids.forEach((id, i) => pool.store(id, BigInt(100 + i)));
    pool.drainEvents();
    pool.release(ids); // frees block 2 (suffix) first, so it is evicted first
    const got = pool.allocate(1) as number[];
    expect(got[0]).to.equal(ids[2]);
    expect(pool.longestCachedPrefix([100n, 101n, 102n])).to.equal(2);
    expect(pool.drainEvents()).to.deep.equal([{ type: "BlockRemoved", blockHashes: [102n] }]);
  });

  it("keeps the first copy when two blocks get the same content", () => {
    const pool = new BlockPool(2);
    const [a, b] = pool.allocate(2) as number[];
    expect(pool.store(a as number, 5n)).to.equal(true);
    expect(pool.store(b as number, 5n)).to.equal(false);
  });

  it("clears the prefix cache only when no request holds blocks", () => {
    const pool = new BlockPool(2);
    const ids = pool.allocate(1) as number[];
    pool.store(ids[0] as number, 9n);
    expect(pool.resetPrefixCache()).to.equal(false);
    pool.release(ids);
    expect(pool.resetPrefixCache()).to.equal(true);
    expect(pool.longestCachedPrefix([9n])).to.equal(0);
    expect(pool.drainEvents().at(-1)).to.deep.equal({ type: "AllBlocksCleared" });
  });
});
