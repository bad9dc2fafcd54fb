import { expect } from "chai";
import fc from "fast-check";
import { blockHashes, countTokens, tokenize } from "../../../../api/tokens.js";
import { PromptCache } from "../../../../router/prompts/prompt-cache.js";
import { heapUsedAfterGc } from "../../../support/heap.js";

const direct = (text: string, bs: number, extra?: string) => ({
  tokenCount: countTokens(text),
  hashes: blockHashes(tokenize(text), bs, undefined, extra),
});

describe("prompt prefix cache", () => {
  it("gives exactly the shared tokenizer's counts and block hashes for prompts sharing prefixes", () => {
    const piece = fc.string({ unit: fc.constantFrom(..." \t\nabcXYZ019.,!-"), minLength: 1, maxLength: 60 });
    const tail = fc.oneof(piece, fc.string({ unit: "grapheme", maxLength: 12 }));
    fc.assert(
      fc.property(
        fc.array(piece, { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(3), fc.nat(3), tail, fc.constantFrom(1, 2, 4, 16), fc.boolean()), {
          minLength: 1,
          maxLength: 12,
        }),
        (stems, plan) => {
          const cache = new PromptCache({ keyChars: 8, minChars: 16, maxEntries: 3, maxTokens: 400 });
          const texts: string[] = [];
          for (const [stem, prev, t, bs, salted] of plan) {
            // A stem (shared by many prompts), or an earlier prompt extended: both are prefixes the cache may hold.
            const base = prev < texts.length ? texts[prev]! : stems[stem % stems.length]!.repeat(6);
            const text = base + t;
            texts.push(text);
            const extra = salted ? "adapter-a" : undefined;
            const got = cache.analyse(text, bs, extra);
            const want = direct(text, bs, extra);
            expect(got.tokenCount).to.equal(want.tokenCount);
            expect(got.hashes).to.deep.equal(want.hashes);
            expect(cache.analyse(text).tokenCount).to.equal(want.tokenCount);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("reuses a shared system prompt and cuts a word that continues past the cached text", () => {
    const cache = new PromptCache();
    const system = "You are a careful assistant. ".repeat(100);
    const a = cache.analyse(system + "question one?", 16);
    expect(cache.misses).to.equal(1);
    const b = cache.analyse(system + "question two?", 16);
    expect(cache.hits).to.equal(1);
    expect(a.hashes!.slice(0, 100)).to.deep.equal(b.hashes!.slice(0, 100));
    expect(b.hashes).to.deep.equal(direct(system + "question two?", 16).hashes);
    // "question two?" then "s": the cached last piece "?" is followed by a non-space, so it must be re-tokenized.
    const c = cache.analyse(system + "question two?s and more", 16);
    expect(c.tokenCount).to.equal(countTokens(system + "question two?s and more"));
    const d = cache.analyse(system + "question twos", 16);
    expect(d.hashes).to.deep.equal(direct(system + "question twos", 16).hashes);
  });

  it("keeps within its entry and token bounds", () => {
    const cache = new PromptCache({ keyChars: 16, minChars: 32, maxEntries: 4, maxTokens: 1_000_000 });
    for (let i = 0; i < 20; i++) cache.analyse(`tenant ${String(i).padStart(3, "0")} `.repeat(20), 16);
    expect(cache.size).to.equal(4);
    const small = new PromptCache({ keyChars: 16, minChars: 32, maxEntries: 100, maxTokens: 100 });
    for (let i = 0; i < 5; i++) small.analyse(`tenant ${String(i).padStart(3, "0")} `.repeat(20), 16);
    expect(small.size).to.equal(1);
  });

  it("keeps no request's prompt alive once its entry is only refreshed", () => {
    const cache = new PromptCache();
    const document = "shared document words ".repeat(100_000);
    // Each request's prompt is a string of its own, as JSON.parse makes it.
    const prompt = (question: string) => JSON.parse(JSON.stringify(`${document}${question}`)) as string;
    cache.analyse(prompt(" question one?"), 16);
    cache.analyse(prompt(" question two?"), 16); // the entry is cut back to the shared document
    const before = heapUsedAfterGc();
    cache.analyse(prompt(" question three?"), 16); // matches the entry whole: a refresh
    expect(cache.hits).to.equal(2);
    // A key cut from the third prompt would keep all of it (one byte a character) alive with the entry.
    expect(heapUsedAfterGc() - before).to.be.below(document.length / 4);
  });

  it("keeps no request's prompt alive when its entry is cut back to the part two prompts share", () => {
    const cache = new PromptCache();
    const document = "shared document words ".repeat(10_000);
    const tail = " and a long question".repeat(100_000);
    const prompt = (question: string) => JSON.parse(JSON.stringify(`${document}${question}`)) as string;
    prompt(tail); // V8 keeps the last round trip's strings for a while: measured from one already made
    cache.analyse(prompt(" question one?"), 16);
    const before = heapUsedAfterGc();
    // Diverges after the document: the entry becomes the shared document, cut from this 2 MB prompt.
    cache.analyse(prompt(` question two?${tail}`), 16);
    expect(cache.hits).to.equal(1);
    expect(heapUsedAfterGc() - before).to.be.below(tail.length / 4);
  });
});
