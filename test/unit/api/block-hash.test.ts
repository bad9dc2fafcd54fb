import { expect } from "chai";
import fc from "fast-check";
import {
  blockDigests,
  blockKeys,
  cborDumps,
  digestKey,
  noneHash,
  pickleDumps,
  type BlockHashOptions,
} from "../../../api/block-hash.js";
import { vllmVectors } from "../../support/vllm-vectors.js";

describe("vLLM block hashes", () => {
  it(`reproduce vLLM ${vllmVectors.vllm}'s request block hasher bit for bit`, () => {
    expect(vllmVectors.blockHashes.length).to.be.greaterThan(10);
    for (const v of vllmVectors.blockHashes) {
      const what = `${v.algo} seed=${v.seed} bs=${v.blockSize} lora=${v.lora?.name} salt=${v.cacheSalt}`;
      const opts: BlockHashOptions = { algo: v.algo };
      if (v.seed !== null) opts.seed = v.seed;
      if (v.lora) opts.lora = v.lora;
      if (v.cacheSalt !== null) opts.cacheSalt = v.cacheSalt;
      expect(noneHash(v.algo, v.seed ?? undefined).toString("hex"), `${what}: NONE_HASH`).to.equal(v.noneHash);
      const digests = blockDigests(v.tokens, v.blockSize, opts).map((d) => d.toString("hex"));
      expect(digests, what).to.deep.equal(v.digests);
      expect(blockKeys(v.tokens, v.blockSize, opts).map(String), `${what}: event keys`).to.deep.equal(v.eventHashes);
    }
  });

  it("LoRA and cache salt change every key; the salt keys the first block and, through the chain, the rest", () => {
    const tokens = Array.from({ length: 64 }, (_, i) => i * 7);
    const plain = blockKeys(tokens, 16, { algo: "sha256" });
    const lora = blockKeys(tokens, 16, { algo: "sha256", lora: { name: "a", path: "/a" } });
    const otherPath = blockKeys(tokens, 16, { algo: "sha256", lora: { name: "a", path: "/b" } });
    const salted = blockKeys(tokens, 16, { algo: "sha256", cacheSalt: "s" });
    for (const other of [lora, otherPath, salted]) {
      expect(other).to.have.length(4);
      other.forEach((k, i) => expect(k).to.not.equal(plain[i]));
    }
    // A continuation from a block's digest equals the whole chain's tail.
    const d = blockDigests(tokens, 16, { algo: "sha256", cacheSalt: "s" });
    const tail = blockDigests(tokens.slice(16), 16, { algo: "sha256", cacheSalt: "s" }, d[0], 1);
    expect(tail.map(digestKey)).to.deep.equal(salted.slice(1));
  });

  it("hashes only full blocks, and each key depends on the whole prefix (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 80 }),
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom("sha256" as const, "sha256_cbor" as const),
        (tokens, bs, algo) => {
          const keys = blockKeys(tokens, bs, { algo });
          expect(keys).to.have.length(Math.floor(tokens.length / bs));
          // Appending tokens never changes earlier keys.
          expect(blockKeys([...tokens, 1, 2, 3], bs, { algo }).slice(0, keys.length)).to.deep.equal(keys);
          if (keys.length > 0) {
            const changed = tokens.slice();
            changed[0] = (changed[0]! + 1) % 2 ** 31;
            expect(blockKeys(changed, bs, { algo }).at(-1)).to.not.equal(keys.at(-1));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("serialises integers across every width as pickle and CBOR do", () => {
    // Python: pickle.dumps((0, 255, 256, 65535, 65536, -1, 2**31, -2**31 - 1), protocol=5)
    expect(pickleDumps([0, 255, 256, 65535, 65536, -1, 2 ** 31, -(2 ** 31) - 1]).toString("hex")).to.equal(
      "8005952600000000000000284b004bff4d00014dffff4a000001004affffffff8a0500000080008a05ffffff7fff74942e",
    );
    // Python: cbor2.dumps((0, 23, 24, 255, 256, 65536, 2**32, -1, -25, b"ab", "é", None), canonical=True)
    const cbor = cborDumps([0, 23, 24, 255, 256, 65536, 2 ** 32, -1, -25, Buffer.from("ab"), "é", null]);
    expect(cbor.toString("hex")).to.equal("8c0017181818ff1901001a000100001b000000010000000020381842616262c3a9f6");
  });

  it("refuses inputs it cannot serialise exactly, naming the rule", () => {
    expect(() => blockKeys([1, 2], 0, { algo: "sha256" })).to.throw(/blockSize: 0 must be a positive integer/);
    expect(() => pickleDumps(new Array(20_000).fill(2 ** 30))).to.throw(/larger than one pickle frame/);
    expect(() => cborDumps(1.5)).to.throw(/not an integer/);
  });
});
