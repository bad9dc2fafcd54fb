// Word-by-word encoding must give exactly the whole-text ids, and refuse (never guess) when a tokenizer's tokens do
// not spell the words they came from. The property tests in tokenizer-cuts.test.ts run it over random texts too.
import { expect } from "chai";
import { ByteLevelWords, byteLevelSpelling, canonicalNormalizer } from "../../../api/byte-level-words.js";
import { ModelTokenizer } from "../../../api/model-tokenizer.js";
import { TINY_TOKENIZER_DIR } from "../../support/vllm-vectors.js";

const WORDS = "engine router cache block prefix token queue model café 東京 42 x".split(" ");

/** "Document" and `n` words from WORDS in an order fixed by `seed`: every word after the first begins with a space. */
function prose(n: number, seed: number): string {
  let x = seed;
  let out = "Document";
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out += " " + WORDS[x % WORDS.length];
  }
  return out;
}

describe("byte-level word encoding", () => {
  let tok: ModelTokenizer;
  before(async () => {
    tok = await ModelTokenizer.load(TINY_TOKENIZER_DIR);
  });

  it("encodes a prompt never seen before from known words, without sending a word to the tokenizer", () => {
    // The first text's words are new (not kept yet); the second's come back, and are kept.
    for (const seed of [1, 3])
      expect(tok.encode(prose(600, seed), true)).to.deep.equal(tok.encodeWhole(prose(600, seed), true));
    const [pieceMisses, wordMisses, wordHits] = [tok.pieceMisses, tok.wordMisses, tok.wordHits];
    const second = prose(600, 2);
    expect(tok.encode(second, true)).to.deep.equal(tok.encodeWhole(second, true));
    expect(tok.pieceMisses - pieceMisses, "new chunks").to.be.greaterThan(5);
    expect(tok.wordHits - wordHits).to.be.greaterThan(300);
    expect(tok.wordMisses - wordMisses).to.equal(0);
  });

  it("spells text the way a GPT-2 style vocabulary does", () => {
    expect(byteLevelSpelling(" café\n")).to.equal("ĠcafÃ©Ċ");
    expect(byteLevelSpelling("a b\tc")).to.equal("aĠbĉc");
  });

  it("refuses, keeping nothing, when the tokens do not spell the words", () => {
    let calls = 0;
    const lying = new ByteLevelWords(
      (text) => {
        calls++;
        return { ids: [1, 2], tokens: ["ab", byteLevelSpelling(text).slice(2) + "x"] };
      },
      (t) => t,
      1 << 20,
    );
    for (let i = 0; i < 3; i++) expect(lying.ids("abc def")).to.equal(undefined);
    expect(calls, "new words are not asked for; refused ones are asked again, never taken from the cache").to.equal(2);
    expect(lying.hits).to.equal(0);
  });

  it("splits one call's tokens back into words and answers repeats from the cache", () => {
    const seen: string[] = [];
    // A tokenizer whose tokens are single characters of the spelling: ids are the character codes.
    const perChar = new ByteLevelWords(
      (text) => {
        seen.push(text);
        const tokens = [...byteLevelSpelling(text)];
        return { ids: tokens.map((c) => c.charCodeAt(0)), tokens };
      },
      (t) => t,
      1 << 20,
    );
    const ids = (s: string) => [...byteLevelSpelling(s)].map((c) => c.charCodeAt(0));
    expect(perChar.ids("one two two three"), "text of new words: encode it whole").to.equal(undefined);
    expect(perChar.ids("one two two three")).to.deep.equal(ids("one two two three"));
    expect(seen, "each word seen before once, in order").to.deep.equal(["one two three"]);
    expect(perChar.ids("three two one")).to.equal(undefined);
    expect(perChar.ids("three two one")).to.deep.equal(ids("three two one"));
    expect(seen, "' two' was kept; 'three' without a space and ' one' with one were not").to.deep.equal([
      "one two three",
      "three one",
    ]);
    expect(perChar.ids("one two four two"), "one new word in four is asked for at once").to.deep.equal(
      ids("one two four two"),
    );
    expect(seen.at(-1)).to.equal(" four");
  });

  it("follows only canonical Unicode normalizers", () => {
    expect(canonicalNormalizer(null)!("e\u0301")).to.equal("e\u0301");
    expect(canonicalNormalizer({ type: "NFC" })!("e\u0301")).to.equal("é");
    const seq = canonicalNormalizer({ type: "Sequence", normalizers: [{ type: "NFD" }, { type: "NFC" }] });
    expect(seq!("é")).to.equal("é");
    expect(canonicalNormalizer({ type: "Lowercase" })).to.equal(undefined);
    expect(canonicalNormalizer({ type: "Sequence", normalizers: [{ type: "NFC" }, { type: "Strip" }] })).to.equal(
      undefined,
    );
  });
});
