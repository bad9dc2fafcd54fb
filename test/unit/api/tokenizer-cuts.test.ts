// Cutting plain prompt text for the per-piece cache must never change a token id: every check compares the cut
// encoding with encoding the whole text at once, over random texts, with the real tiny model's tokenizer (the one the
// real-engine tier serves) and with variants of its pipeline (llama-3 / Qwen2 split regexes, prefix space, NFC,
// SentencePiece-style Metaspace), and configurations that cannot be cut safely must fall back to whole-text encoding.
import { expect } from "chai";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ModelTokenizer } from "../../../api/model-tokenizer.js";
import { PieceCache } from "../../../api/piece-cache.js";
import { heapHeldBy, heapUsedAfterGc } from "../../support/heap.js";
import { seededRandom } from "../../support/seeded-random.js";
import { nextCut, plainTextCuts } from "../../../api/tokenizer-cuts.js";
import { TINY_TOKENIZER_DIR } from "../../support/vllm-vectors.js";

type Json = Record<string, unknown>;
const tinyJson = () => JSON.parse(readFileSync(path.join(TINY_TOKENIZER_DIR, "tokenizer.json"), "utf8")) as Json;
const tinyConfig = JSON.parse(readFileSync(path.join(TINY_TOKENIZER_DIR, "tokenizer_config.json"), "utf8")) as Json;

const LLAMA3 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const splitThenByteLevel = (regex: string) => ({
  type: "Sequence",
  pretokenizers: [
    { type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false },
    { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
  ],
});

/**
 * Merges joining byte-level symbols of every kind (letters, digits, punctuation, space, newline, tab), appended
 * last: inert where the pre-tokenizer keeps such symbols apart, but any cut made inside a pre-token that holds such a
 * pair changes the ids — which makes the property tests sensitive to a wrong cut whatever the vocabulary was trained on.
 */
function addCrossMerges(json: Json): void {
  const model = json.model as { vocab: Record<string, number>; merges: (string | string[])[] };
  const symbols = ["e", "s", "4", "2", ".", ",", "!", "?", "'", "Ġ", "Ċ", "ĉ", "č", "Ã", "©", "Â", "ł"];
  let next = Math.max(...Object.values(model.vocab)) + 1;
  for (const a of symbols) {
    for (const b of symbols) {
      if (model.vocab[a + b] !== undefined) continue;
      model.vocab[a + b] = next++;
      model.merges.push(Array.isArray(model.merges[0]) ? [a, b] : `${a} ${b}`);
    }
  }
}

function variant(change: (j: Json) => void, config: Json = tinyConfig): ModelTokenizer {
  const json = tinyJson();
  change(json);
  addCrossMerges(json);
  return ModelTokenizer.fromJson(json, config, undefined, "test-variant");
}

/** Pieces of text chosen to stress the cut: words cut anywhere, unicode, runs of whitespace, special tokens. */
const FRAGMENTS = [
  "the",
  "router",
  "tokenizer",
  "Cache",
  "block",
  "I'll",
  "it's",
  "we'RE",
  "x",
  "é",
  "café",
  "naïve",
  "e\u0301",
  "東京",
  "日本語の文",
  "😀",
  "👩‍👩‍👧",
  "𝐀𝐁",
  "Ωμέγα",
  "Σ",
  "٣٤",
  "42",
  "1234567",
  "½",
  "⑴",
  "▁",
  "▁▁",
  " ",
  " ",
  " ",
  "  ",
  "   ",
  "\n",
  "\n\n",
  "\t",
  " \n ",
  "\r\n",
  "\u00a0",
  "\u3000",
  ".",
  ",",
  "!?",
  "...",
  "—",
  "(x)",
  "<|im_start|>",
  "<|im_end|>",
  "<s>",
  "</s>",
];
const fragment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...FRAGMENTS) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
);
const text = (min: number, max: number) =>
  fc.array(fragment, { minLength: min, maxLength: max }).map((parts) => parts.join(""));
/** A long document, then a cut at any character of it (mid-word included) and a different tail. */
const sharedPrefixCase = fc.record({
  doc: text(300, 900),
  at: fc.double({ min: 0, max: 1 }),
  tails: fc.tuple(text(1, 40), text(1, 40)),
});

function expectCutEqualsWhole(tok: ModelTokenizer, t: string): void {
  expect(tok.encode(t, true)).to.deep.equal(tok.encodeWhole(t, true));
  expect(tok.encode(t, false)).to.deep.equal(tok.encodeWhole(t, false));
}

/** Every cut point of `t` (not only those the chunking picks): whole = left part's ids then right part's. */
function expectEveryCutPointSafe(tok: ModelTokenizer, t: string): void {
  const whole = tok.encodeWhole(t, false);
  for (let p = nextCut(t, 1); p !== undefined; p = nextCut(t, p + 1)) {
    const apart = [...tok.encodeWhole(t.slice(0, p), false), ...tok.encodeWhole(t.slice(p), false)];
    expect(apart, `cut at ${p} of ${JSON.stringify(t)}`).to.deep.equal(whole);
  }
}

function checkProperty(tok: ModelTokenizer, numRuns: number): void {
  fc.assert(
    fc.property(text(5, 120), (t) => expectEveryCutPointSafe(tok, t)),
    { numRuns: 3 * numRuns },
  );
  fc.assert(
    fc.property(text(50, 900), (t) => expectCutEqualsWhole(tok, t)),
    { numRuns },
  );
  fc.assert(
    fc.property(sharedPrefixCase, ({ doc, at, tails }) => {
      // The first prompt fills the cache; the second shares a prefix cut at an arbitrary point (often mid-word).
      expectCutEqualsWhole(tok, doc + tails[0]);
      expectCutEqualsWhole(tok, doc.slice(0, Math.floor(at * doc.length)) + tails[1]);
    }),
    { numRuns },
  );
}

describe("cutting plain prompt text for the tokenizer's piece cache", () => {
  let tiny: ModelTokenizer;
  before(async () => {
    tiny = await ModelTokenizer.load(TINY_TOKENIZER_DIR);
  });

  it("cuts the real tiny model's prompts and gives the whole-text ids on random texts", () => {
    expect(tiny.plainCuts).to.deep.equal({ safe: true, rule: "ByteLevel regex (gpt-2)" });
    checkProperty(tiny, 150);
  });

  it("keeps a long shared plain prompt's cost flat: only the chunks after the divergence are encoded", () => {
    const doc = "A shared document about routers and caches, with words. ".repeat(200);
    tiny.completionTokenIds(`${doc}\n\nQuestion 1: what is cached?`);
    const [hits, misses] = [tiny.pieceHits, tiny.pieceMisses];
    const ids = tiny.completionTokenIds(`${doc}\n\nQuestion 2: what is not?`);
    expect(tiny.pieceHits - hits).to.be.greaterThan(30);
    expect(tiny.pieceMisses - misses).to.be.at.most(2);
    expect(ids).to.deep.equal(tiny.encodeWhole(`${doc}\n\nQuestion 2: what is not?`, true));
  });

  for (const [name, change] of [
    ["the tiny model's pipeline", () => undefined],
    ["a llama-3 Split regex then ByteLevel", (j: Json) => (j.pre_tokenizer = splitThenByteLevel(LLAMA3))],
    [
      "a Qwen2 Split regex then ByteLevel, NFC",
      (j: Json) => {
        j.pre_tokenizer = splitThenByteLevel(QWEN2);
        j.normalizer = { type: "NFC" };
      },
    ],
    [
      "ByteLevel adding a prefix space",
      (j: Json) => (j.pre_tokenizer = { type: "ByteLevel", add_prefix_space: true, use_regex: true }),
    ],
  ] as const) {
    it(`cuts safely with ${name}`, () => {
      const tok = variant(change);
      expect(tok.plainCuts.safe, JSON.stringify(tok.plainCuts)).to.equal(true);
      checkProperty(tok, 40);
      expect(tok.wordHits, "the random texts went through the word cache").to.be.greaterThan(100);
    });
  }

  for (const [name, change, config, reason] of [
    ["a Prepend normalizer", (j: Json) => (j.normalizer = { type: "Prepend", prepend: "▁" }), tinyConfig, /Prepend/],
    [
      "a Lowercase normalizer in a sequence",
      (j: Json) => (j.normalizer = { type: "Sequence", normalizers: [{ type: "NFC" }, { type: "Lowercase" }] }),
      tinyConfig,
      /Lowercase/,
    ],
    [
      "ByteLevel without its regex",
      (j: Json) => (j.pre_tokenizer = { type: "ByteLevel", use_regex: false }),
      tinyConfig,
      /does not split/,
    ],
    [
      "an unknown Split regex",
      (j: Json) => (j.pre_tokenizer = splitThenByteLevel("\\S+\\s*")),
      tinyConfig,
      /known regex/,
    ],
    ["BPE dropout", (j: Json) => ((j.model as Json).dropout = 0.1), tinyConfig, /dropout/],
    ["remove_space in tokenizer_config.json", () => undefined, { ...tinyConfig, remove_space: true }, /remove_space/],
  ] as const) {
    it(`falls back to whole-text encoding with ${name}`, () => {
      const tok = variant(change, config);
      expect(tok.plainCuts.safe).to.equal(false);
      expect((tok.plainCuts as { reason: string }).reason).to.match(reason);
      const doc = "Plain text without special tokens, long enough to be cut many times over. ".repeat(40);
      const misses = tok.pieceMisses;
      expectCutEqualsWhole(tok, doc);
      // Only the whole text (between added tokens) is a piece: nothing was cut inside it.
      expect(tok.pieceMisses - misses).to.be.at.most(1);
      fc.assert(
        fc.property(text(50, 400), (t) => expectCutEqualsWhole(tok, t)),
        { numRuns: 15 },
      );
    });
  }
});

describe("cutting SentencePiece-style (Metaspace) prompts", () => {
  /** A small Metaspace BPE tokenizer; `extraMerges` may add one that joins a word with the following space. */
  function metaspace(extraMerges: [string, string][] = []): { json: Json; tok: ModelTokenizer } {
    const merges: [string, string][] = [
      ["▁", "a"],
      ["▁a", "b"],
      ["a", "b"],
      ["b", "."],
      ["▁", "▁"],
      ["▁▁", "▁▁"],
      [".", "▁"],
      ["c", "a"],
      ["▁", "c"],
      ...extraMerges,
    ];
    const vocab: Record<string, number> = { "<unk>": 0 };
    for (const t of ["▁", "a", "b", "c", ".", "é", "\n", ...merges.map(([x, y]) => x + y)])
      vocab[t] ??= Object.keys(vocab).length;
    const json: Json = {
      version: "1.0",
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
      post_processor: null,
      decoder: null,
      model: { type: "BPE", dropout: null, unk_token: "<unk>", fuse_unk: true, byte_fallback: false, vocab, merges },
    };
    return { json, tok: ModelTokenizer.fromJson(json, {}, undefined, "metaspace-test") };
  }
  const msText = (min: number, max: number) =>
    fc
      .array(fc.constantFrom("a", "b", "c", "ab", "ca", ".", " ", "  ", "   ", "é", "\n", "x"), {
        minLength: min,
        maxLength: max,
      })
      .map((p) => p.join(""));

  it("cuts when no merge joins a word with the next space, and gives the whole-text ids", () => {
    const { tok } = metaspace();
    expect(tok.plainCuts).to.deep.equal({ safe: true, rule: "Metaspace, no merge across a space" });
    fc.assert(
      fc.property(msText(200, 1200), (t) => expectCutEqualsWhole(tok, t)),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(msText(5, 80), (t) => expectEveryCutPointSafe(tok, t)),
      { numRuns: 100 },
    );
    expect(tok.wordHits + tok.wordMisses, "word encoding is for byte-level vocabularies only").to.equal(0);
  });

  it("refuses to cut when a merge joins a word with the next space (cutting would change the ids)", () => {
    const { json, tok } = metaspace([["b", "▁"]]);
    expect(plainTextCuts(json, {})).to.deep.include({ safe: false });
    expect(tok.plainCuts.safe).to.equal(false);
    // The check matters: tokenized apart at that point, "cb b" gives other ids than whole (the b▁ merge).
    const apart = [...tok.encodeWhole("cb", false), ...tok.encodeWhole(" b", false)];
    expect(apart).to.not.deep.equal(tok.encodeWhole("cb b", false));
    fc.assert(
      fc.property(msText(200, 800), (t) => expectCutEqualsWhole(tok, t)),
      { numRuns: 20 },
    );
  });
});

describe("the piece cache's memory bound", () => {
  it("moves an entry to the young end when it is used after aging past half the cache, not before", () => {
    const ids = [1, 2, 3];
    const name = (i: number) => `piece ${String(i).padStart(60, "0")}`;
    const probe = new PieceCache(1 << 20);
    probe.keep(name(0), ids);
    const cache = new PieceCache(16 * probe.bytes); // room for 16 entries (one may take at most a sixteenth)
    for (let i = 0; i < 16; i++) cache.keep(name(i), ids);
    cache.get(name(0)); // the oldest, 15 moves behind: moved to the young end
    cache.get(name(14)); // 1 move behind: stays where it is
    cache.keep(name(16), ids); // over budget: the oldest goes
    expect(cache.get(name(0)), "moved, so kept").to.deep.equal(ids);
    expect(cache.get(name(1)), "now the oldest, so evicted").to.equal(undefined);
    for (let i = 17; i < 30; i++) cache.keep(name(i), ids);
    expect(cache.get(name(14)), "not moved, so evicted in its turn").to.equal(undefined);
    expect(cache.get(name(0)), "moved, so it outlives pieces 1 to 14").to.deep.equal(ids);
  });

  it("stays within its budget under random pieces, evicting the least recently used", () => {
    const cache = new PieceCache(64 * 1024);
    const encode = (t: string) => Array.from(t, (c) => c.codePointAt(0)!);
    const hot = "a piece used again and again, so it should never be evicted by the others".repeat(2);
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 64, maxLength: 2000 }), { minLength: 1, maxLength: 200 }),
        (pieces) => {
          for (const p of pieces) {
            cache.ids(hot, encode);
            expect(cache.ids(p, encode)).to.deep.equal(encode(p));
            expect(cache.bytes).to.be.at.most(cache.budgetBytes);
          }
        },
      ),
      { numRuns: 50 },
    );
    const hits = cache.hits;
    cache.ids(hot, encode);
    expect(cache.hits).to.equal(hits + 1);
    // One piece bigger than a sixteenth of the budget is answered but not kept.
    const huge = "y".repeat(8000);
    cache.ids(huge, encode);
    cache.ids(huge, encode);
    expect(cache.hits).to.equal(hits + 1);
  });

  it("keeps no prompt alive when a lookup cut from it refreshes an entry", () => {
    const cache = new PieceCache(1 << 20);
    const piece = "a chunk of a shared document, long enough that V8 slices rather than copies it";
    cache.keep(piece, [1]);
    for (let i = 0; i < 4; i++) cache.keep(`another piece ${i} of some length, so the first one ages`, [2]);
    const filler = 2_000_000;
    const before = heapUsedAfterGc();
    const lookUp = () => {
      const prompt = JSON.parse(JSON.stringify("x".repeat(filler) + piece)) as string;
      return cache.get(prompt.slice(filler));
    };
    expect(lookUp(), "found, and old enough to move to the young end").to.deep.equal([1]);
    expect(heapUsedAfterGc() - before).to.be.below(filler / 4);
  });

  it("holds at most its budget in heap once full, words or document chunks, and not far under it", () => {
    const budget = 8 * 2 ** 20;
    // Short words with a few ids (the word cache) and ASCII chunks of a few hundred characters (the piece cache). A
    // key's characters are estimated at two bytes, so ASCII chunks hold less than the budget; and the map's table
    // grows by doubling, so small entries hold anywhere from about 0.7 to 1 of it: at most the budget, never more.
    for (const [chars, ids] of [
      [8, 2],
      [24, 6],
      [400, 100],
    ] as const) {
      const { held, estimate } = fillWithNewPieces(budget, chars, ids);
      expect(estimate).to.be.at.most(budget);
      expect(held / budget, `heap over budget, ${chars}-character pieces of ${ids} ids`).to.be.within(0.6, 1.05);
    }
  });
});

/** A piece cache of `budget` bytes after pieces never repeated, past twice its budget: the heap it holds, its estimate. */
function fillWithNewPieces(budget: number, chars: number, ids: number): { held: number; estimate: number } {
  const random = seededRandom(chars);
  const { held, built: cache } = heapHeldBy(() => {
    const filled = new PieceCache(budget);
    for (let kept = 0; kept < 2 * budget; kept += 2 * chars + 8 * ids) {
      const text = Array.from({ length: chars }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join("");
      filled.keep(
        text,
        Array.from({ length: ids }, () => Math.floor(random() * 50_000)),
      );
    }
    return filled;
  });
  return { held, estimate: cache.bytes };
}
