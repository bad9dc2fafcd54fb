import { expect } from "chai";
import fc from "fast-check";
import {
  ROOT_BLOCK_HASH,
  blockHash,
  blockHashes,
  chatPromptText,
  countTokens,
  pieceId,
  tokenPieces,
  tokenize,
} from "../../../api/tokens.js";

/** Reference FNV-1a 64 in BigInt, to check the split-half arithmetic. */
function fnv64Ref(bytes: number[]): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

function u32le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

describe("api/tokens", () => {
  it("splits words, punctuation and long words into ~4-character pieces", () => {
    expect(tokenPieces("Hello, world!")).to.deep.equal(["Hell", "o", ",", " worl", "d", "!"]);
    expect(tokenPieces("a  b")).to.deep.equal(["a", "  b"]);
    expect(tokenPieces("   ")).to.deep.equal([]);
    expect(tokenize("")).to.deep.equal([]);
  });

  it("gives stable 32-bit ids (FNV-1a 32)", () => {
    // FNV-1a 32 of "a" is 0xe40c292c (published test vector).
    expect(pieceId("a")).to.equal(0xe40c292c);
    expect(tokenize("the cat")).to.deep.equal([pieceId("the"), pieceId(" cat")]);
  });

  it("countTokens always equals tokenize().length", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => countTokens(s) === tokenize(s).length),
      { numRuns: 300 },
    );
    expect(countTokens("internationalization is long")).to.equal(tokenize("internationalization is long").length);
  });

  it("flattens chat messages with a fixed template", () => {
    const text = chatPromptText([
      { role: "system", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "Hi" }, { type: "image_url" }] },
    ]);
    expect(text).to.equal("<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\n");
  });

  it("hashes blocks with FNV-1a 64 over parent, token ids and extra key", () => {
    const parent = 0x0123456789abcdefn;
    const toks = [1, 2, 0xffffffff, 42];
    const bytes = [...u32le(0x89abcdef), ...u32le(0x01234567), ...toks.flatMap(u32le), ...Buffer.from("lora-a")];
    expect(blockHash(parent, toks, "lora-a")).to.equal(fnv64Ref(bytes));
    expect(ROOT_BLOCK_HASH).to.equal(fnv64Ref([...Buffer.from("aibrix-ts/root-block")]));
  });

  it("chains hashes over full blocks only, so a shared prefix shares hashes", () => {
    const a = tokenize("one two three four five six seven eight nine ten eleven twelve");
    const b = [...a.slice(0, 8), 7, 7, 7, 7];
    const ha = blockHashes(a, 4);
    const hb = blockHashes(b, 4);
    expect(ha).to.have.length(Math.floor(a.length / 4));
    expect(hb[0]).to.equal(ha[0]);
    expect(hb[1]).to.equal(ha[1]);
    expect(hb[2]).to.not.equal(ha[2]);
    // Continuing a chain from a parent gives the same hashes as hashing the whole sequence.
    expect(blockHashes(a.slice(4), 4, ha[0])).to.deep.equal(ha.slice(1));
    // A different extra key (adapter) never shares blocks.
    expect(blockHashes(a, 4, undefined, "lora")[0]).to.not.equal(ha[0]);
  });

  it("rejects a bad block size naming the field and rule", () => {
    expect(() => blockHashes([1, 2], 0)).to.throw(/blockSize: 0 must be a positive integer/);
  });
});
