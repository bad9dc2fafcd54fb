// Where plain text may be cut so that tokenizing the pieces apart gives exactly the ids of tokenizing it whole.
//
// The cut point is always the same: just before a space (U+0020) whose preceding character is a letter or a number.
// Whether that point is safe depends on the tokenizer's pipeline (normalizer → pre-tokenizer → model), read from its
// tokenizer.json; configurations not proven safe here get no cut at all (whole-text tokenization):
// - ByteLevel with its regex (GPT-2 style), or a Split by the llama-3 / Qwen2 / GPT-2 regex followed by ByteLevel
//   without regex: BPE never merges across pre-tokens, and none of these regexes' alternatives can match a span holding
//   a non-space character followed by a space (a space only ever opens a match or sits in an all-whitespace match), so
//   the cut is a pre-token boundary. The left piece sees end-of-text where the whole text had a space: the only
//   lookahead, `(?!\S)`, answers the same for both, and nothing else reads past the letter. The right piece starts
//   with a space, so ByteLevel's `add_prefix_space` adds nothing to it.
// - Metaspace: spaces become `▁` but the pre-tokenizer does not split the text, so BPE runs over the whole span. The
//   cut holds when no merge joins a symbol ending in a letter or number with one starting with `▁` (checked over the
//   merges list): then no merge spans the cut, and the merges on either side happen in the same order alone as
//   together. The right piece starts with `▁`, so no prefix is prepended to it.
// - Normalizer: none, or canonical Unicode normalization (NFC/NFD), for which a space is a normalization boundary.
//   Anything that rewrites across characters (Prepend, Replace, Strip, Lowercase, compatibility forms) is refused.
// - Model: BPE without dropout; `remove_space` / lowercasing in tokenizer_config.json is refused.
// The loader also compares cut and whole tokenization on samples before trusting a rule (defence in depth).

/** Whether plain text may be cut (the rule that makes it safe), or why not. */
export type CutVerdict = { safe: true; rule: string } | { safe: false; reason: string };

const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** Split regexes whose matches never hold a non-space character followed by a space (see above). */
const SPLIT_REGEXES = new Map([
  [GPT2_REGEX, "gpt-2"],
  [LLAMA3_REGEX, "llama-3"],
  [QWEN2_REGEX, "qwen2"],
]);
const SAFE_NORMALIZERS = new Set(["NFC", "NFD"]);

type Json = Record<string, unknown>;

/** Cut points: a space preceded by a letter or number. */
const CUT_POINT = /(?<=[\p{L}\p{N}]) /gu;

/** The first cut point at or after `from`, or undefined. */
export function nextCut(text: string, from: number): number | undefined {
  CUT_POINT.lastIndex = from;
  const m = CUT_POINT.exec(text);
  return m ? m.index : undefined;
}

const LETTER_OR_NUMBER = /[\p{L}\p{N}]/u;

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** The last cut point before `before` (the space itself lies before it), or undefined. */
export function lastCut(text: string, before: number): number | undefined {
  for (let p = text.lastIndexOf(" ", before - 1); p > 0; p = text.lastIndexOf(" ", p - 1)) {
    // The character before the space, whole when it is the second half of a surrogate pair.
    const paired = p >= 2 && isLowSurrogate(text.charCodeAt(p - 1)) && isHighSurrogate(text.charCodeAt(p - 2));
    if (LETTER_OR_NUMBER.test(text.slice(paired ? p - 2 : p - 1, p))) return p;
  }
  return undefined;
}

/** Reads tokenizer.json (and tokenizer_config.json) and says whether plain text may be cut, and why. */
export function plainTextCuts(tokenizerJson: Json, config: Json): CutVerdict {
  const model = (tokenizerJson.model ?? {}) as Json;
  if (model.type !== "BPE") return cutRefused(`the model is ${String(model.type)}, not BPE`);
  if (typeof model.dropout === "number" && model.dropout > 0)
    return cutRefused("BPE dropout makes tokenization random");
  if (config.remove_space === true) return cutRefused("tokenizer_config.json remove_space rewrites whitespace");
  if (config.do_lowercase_and_remove_accent === true) return cutRefused("tokenizer_config.json lowercases the text");
  const normalizer = normalizerVerdict(tokenizerJson.normalizer as Json | null | undefined);
  if (normalizer) return cutRefused(normalizer);
  if (tokenizerJson.normalizer) {
    const added = (tokenizerJson.added_tokens ?? []) as { content: string; normalized?: boolean }[];
    const spanning = added.find((t) => t.normalized === true && /[\p{L}\p{N}] /u.test(t.content));
    if (spanning)
      return cutRefused(`the added token ${JSON.stringify(spanning.content)} is matched after normalization`);
  }
  return preTokenizerVerdict(tokenizerJson.pre_tokenizer as Json | null | undefined, model);
}

/** A verdict that plain text may not be cut, and why. */
export function cutRefused(reason: string): CutVerdict {
  return { safe: false, reason };
}

function normalizerVerdict(n: Json | null | undefined): string | undefined {
  if (!n) return undefined;
  if (n.type === "Sequence") {
    for (const inner of (n.normalizers ?? []) as Json[]) {
      const v = normalizerVerdict(inner);
      if (v) return v;
    }
    return undefined;
  }
  return SAFE_NORMALIZERS.has(String(n.type)) ? undefined : `the normalizer ${String(n.type)} may rewrite across a cut`;
}

function preTokenizerVerdict(p: Json | null | undefined, model: Json): CutVerdict {
  if (!p) return cutRefused("no pre-tokenizer: BPE runs over the whole text");
  if (p.type === "ByteLevel") {
    return p.use_regex === false
      ? cutRefused("ByteLevel without its regex does not split the text")
      : { safe: true, rule: "ByteLevel regex (gpt-2)" };
  }
  if (p.type === "Sequence") {
    const [split, byteLevel, ...rest] = (p.pretokenizers ?? []) as Json[];
    const pattern = (split?.pattern as Json | undefined)?.Regex;
    const name = typeof pattern === "string" ? SPLIT_REGEXES.get(pattern) : undefined;
    const isolated = split?.type === "Split" && split.behavior === "Isolated" && split.invert === false;
    if (rest.length === 0 && isolated && name && byteLevel?.type === "ByteLevel" && byteLevel.use_regex === false) {
      return { safe: true, rule: `Split regex (${name}) + ByteLevel` };
    }
    return cutRefused("a pre-tokenizer sequence other than Split (a known regex) then ByteLevel");
  }
  if (p.type === "Metaspace") return metaspaceVerdict(p, model);
  return cutRefused(`the pre-tokenizer ${String(p.type)} is not one this router can cut around`);
}

function metaspaceVerdict(p: Json, model: Json): CutVerdict {
  const replacement = typeof p.replacement === "string" ? p.replacement : "\u2581";
  if (p.str_rep !== undefined && p.str_rep !== replacement)
    return cutRefused("Metaspace str_rep differs from replacement");
  if (model.ignore_merges === true) return cutRefused("Metaspace with ignore_merges: whole-span vocabulary lookups");
  if (model.end_of_word_suffix || model.continuing_subword_suffix) {
    return cutRefused("Metaspace with subword suffixes: the suffix marks the end of the whole span");
  }
  const letterOrNumber = /[\p{L}\p{N}]$/u;
  for (const merge of (model.merges ?? []) as (string | string[])[]) {
    const [a, b] = typeof merge === "string" ? merge.split(" ", 2) : merge;
    if (a !== undefined && b !== undefined && b.startsWith(replacement) && letterOrNumber.test(a)) {
      return cutRefused(`the merge ${JSON.stringify([a, b])} joins a word with the next space`);
    }
  }
  return { safe: true, rule: "Metaspace, no merge across a space" };
}
