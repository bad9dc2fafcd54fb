// The shared-prefix ids cache answers exactly what encoding the whole prompt would, encodes only what follows a held
// prefix, stays within its memory bound and keeps no request's prompt alive. The real tokenizer's side of it (ids
// equal to whole-text encoding for every prompt of a tenant and a conversation) is checked with the tiny model.
import { expect } from "chai";
import fc from "fast-check";
import { ModelTokenizer } from "../../../api/model-tokenizer.js";
import { SharedPrefixIds } from "../../../api/shared-prefix-ids.js";
import { lastCut, nextCut } from "../../../api/tokenizer-cuts.js";
import { heapUsedAfterGc } from "../../support/heap.js";
import { TINY_TOKENIZER_DIR } from "../../support/vllm-vectors.js";

/** A stand-in tokenizer whose ids are the text's code units, counting what it was asked to encode. */
function countingEncoder() {
  const calls = { chars: 0 };
  const encode = (t: string) => {
    calls.chars += t.length;
    return Array.from(t, (c) => c.charCodeAt(0));
  };
  return { calls, encode };
}

const DOC = "A tenant's shared document about routing, caches and engines. ".repeat(60);

describe("lastCut", () => {
  it("finds the cut point nextCut would find last before a position", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), fc.nat(70), (text, before) => {
        let expected: number | undefined;
        for (let p = nextCut(text, 0); p !== undefined && p < before; p = nextCut(text, p + 1)) expected = p;
        expect(lastCut(text, before)).to.equal(expected);
      }),
      { numRuns: 2000 },
    );
    expect(lastCut("café 東京 😀 𝐀 x", 100)).to.equal(13);
    expect(lastCut("\udc00 a", 100), "a lone low surrogate is not a letter").to.equal(undefined);
  });
});

describe("shared prefix ids", () => {
  it("encodes only what follows a tenant's shared prefix once two prompts have shared it", () => {
    const cache = new SharedPrefixIds();
    const { calls, encode } = countingEncoder();
    const prompts = [1, 2, 3, 4].map((i) => `${DOC}\n\nQuestion ${i}: what does the document say?`);
    for (const p of prompts.slice(0, 2)) expect(cache.ids(p, encode)).to.deep.equal(encode(p));
    expect(cache.hits).to.equal(0);
    for (const p of prompts.slice(2)) {
      calls.chars = 0;
      const ids = cache.ids(p, encode);
      expect(calls.chars, "only the question after the shared part").to.equal(p.length - `${DOC}\n\nQuestion`.length);
      expect(ids).to.deep.equal(encode(p));
    }
    expect(cache.hits).to.equal(2);
  });

  it("follows a conversation: each turn encodes only what the previous one did not hold", () => {
    const cache = new SharedPrefixIds();
    const { calls, encode } = countingEncoder();
    let prompt = DOC;
    cache.ids(prompt, encode);
    for (let turn = 1; turn <= 4; turn++) {
      const added = `\nuser: question ${turn} asked here\nassistant: answer ${turn} given`;
      const heldBefore = lastCut(prompt, prompt.length)!;
      prompt += added;
      calls.chars = 0;
      const ids = cache.ids(prompt, encode);
      expect(calls.chars, `turn ${turn}`).to.equal(prompt.length - heldBefore);
      expect(ids).to.deep.equal(encode(prompt));
    }
    expect(cache.hits).to.equal(4);
  });

  it("answers every prompt exactly, within its memory bound, under random tenants and conversations", () => {
    const cache = new SharedPrefixIds({ keyChars: 16, minChars: 64, maxChars: 4_000 });
    const { encode } = countingEncoder();
    const words = fc.constantFrom("alpha", "beta", "x", "42", "é", "😀", " ", "  ", "\n", ".", "<s>", "a b", "\udc00");
    const text = (min: number, max: number) =>
      fc.array(words, { minLength: min, maxLength: max }).map((w) => w.join(""));
    // Each step a tenant's document and a question, or the previous prompt and a further turn.
    // ...and ids to put in front (a BOS token) on some prompts, which the held prefixes must never take in.
    const step = fc.tuple(fc.nat(4), fc.boolean(), text(1, 30), fc.constantFrom([], [1], [7, 9]));
    fc.assert(
      fc.property(
        fc.array(text(20, 200), { minLength: 5, maxLength: 5 }),
        fc.array(step, { maxLength: 40 }),
        (docs, steps) => {
          let previous = "";
          for (const [doc, turn, tail, lead] of steps) {
            const p = turn && previous ? previous + tail : `${doc} ${docs[doc]!}${tail}`;
            expect(cache.ids(p, encode, lead)).to.deep.equal([...lead, ...encode(p)]);
            expect(cache.chars).to.be.at.most(4_000);
            previous = p;
          }
        },
      ),
      { numRuns: 300 },
    );
    // The hit path must have run plenty: 485–618 hits over 12 seeds, so a bound of 500 failed now and then.
    expect(cache.hits).to.be.greaterThan(300);
  });

  it("keeps no request's prompt alive", () => {
    const cache = new SharedPrefixIds();
    const encode = (t: string) => [t.length];
    const filler = "y".repeat(2_000_000);
    // Each prompt a flat string of its own (as a parsed body is); the held prefix would be a slice of it.
    const prompt = (i: number) => JSON.parse(JSON.stringify(`${DOC}question ${i} ${filler}`)) as string;
    prompt(-1); // V8 keeps the last round trip's strings for a while: measured from one already made
    const before = heapUsedAfterGc();
    for (let i = 0; i < 3; i++) cache.ids(prompt(i), encode);
    expect(cache.chars).to.be.greaterThan(DOC.length);
    // Three prompts of 2 MB each: one kept alive would add 2 MB.
    expect(heapUsedAfterGc() - before).to.be.below(filler.length / 2);
  });

  it("gives the tiny model's whole-text ids for a tenant's prompts and a conversation, reusing the held prefix", async () => {
    const tok = await ModelTokenizer.load(TINY_TOKENIZER_DIR);
    const prompts = [1, 2, 3].map((i) => `${DOC}<|im_end|>\n\nQuestion ${i}: what is it about?`);
    let conversation = `<|im_start|>system\n${DOC}<|im_end|>\n`;
    for (let turn = 0; turn < 3; turn++) {
      conversation += `<|im_start|>user\nquestion ${turn} 東京 😀<|im_end|>\n<|im_start|>assistant\nanswer ${turn}<|im_end|>\n`;
      prompts.push(conversation);
    }
    for (const p of prompts) {
      expect(tok.completionTokenIds(p)).to.deep.equal(tok.encodeWhole(p, true));
      expect(tok.encode(p, false)).to.deep.equal(tok.encodeWhole(p, false));
    }
    expect(tok.sharedPrefixHits).to.be.greaterThan(6);
  });
});
