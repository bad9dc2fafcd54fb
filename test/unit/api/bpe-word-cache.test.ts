// The BPE word cache replacement must answer exactly what the library's own cache would (the same ids for every
// text, across evictions), and must say when there is nothing it can replace.
import { expect } from "chai";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { replaceBpeWordCache } from "../../../api/bpe-word-cache.js";
import { TINY_TOKENIZER_DIR } from "../../support/vllm-vectors.js";

const load = () =>
  new Tokenizer(
    JSON.parse(readFileSync(path.join(TINY_TOKENIZER_DIR, "tokenizer.json"), "utf8")) as Record<string, unknown>,
    JSON.parse(readFileSync(path.join(TINY_TOKENIZER_DIR, "tokenizer_config.json"), "utf8")) as Record<string, unknown>,
  );
const ids = (t: Tokenizer, text: string) => t.encode(text, { add_special_tokens: false }).ids;

describe("the BPE word cache replacement", () => {
  it("replaces the library's cache and gives its ids, across evictions", () => {
    const theirs = load();
    const ours = load();
    expect(replaceBpeWordCache(ours)).to.equal(true);
    const model = (ours as unknown as { model: { cache: unknown } }).model;
    expect(model.cache?.constructor, "the library's LRUCache is gone").to.equal(Object);
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), (text) => {
        expect(ids(ours, text)).to.deep.equal(ids(theirs, text));
        expect(ids(ours, text), "answered from the cache").to.deep.equal(ids(theirs, text));
      }),
      { numRuns: 500 },
    );
    // More distinct words than the cache holds (about 20,000), then the first ones again.
    const words = Array.from({ length: 40_000 }, (_, i) => ` w${i.toString(36)}x${(i * 7919).toString(36)}`);
    for (const w of words) ids(ours, w);
    for (const w of words.slice(0, 200)) expect(ids(ours, w)).to.deep.equal(ids(theirs, w));
  });

  it("leaves a tokenizer whose model keeps no such cache as it is, and says so", () => {
    const noCache = { model: { bpe: () => [] } } as unknown as Tokenizer;
    expect(replaceBpeWordCache(noCache)).to.equal(false);
    expect(replaceBpeWordCache({} as unknown as Tokenizer)).to.equal(false);
  });
});
