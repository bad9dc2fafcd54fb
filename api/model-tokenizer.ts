// A model's own tokenizer and chat template, applied the way vLLM's OpenAI server applies them, so a router (or the
// simulator) gets the engine's exact prompt token ids — the input of the engine's prefix-cache block hashes.
//
// Files, as a model directory (or a mounted ConfigMap) holds them: `tokenizer.json` (required), `tokenizer_config.json`
// (special tokens, `chat_template`), and optionally `chat_template.jinja`, which newer checkpoints ship instead.
// - Chat: the template is rendered as HF's `apply_chat_template(messages, add_generation_prompt=True)` does (jinja
//   with trim_blocks/lstrip_blocks, special tokens and `raise_exception` in scope (the jinja library's own), message content as a string: text
//   parts joined by "\n"), then encoded without adding special tokens (vLLM's chat default: the template has them).
// - Completions: the prompt is encoded with special tokens added (vLLM's completions default), e.g. a leading BOS.
// Long shared prompts are cheap: text is cut at added-token boundaries (special tokens such as `<|im_start|>` are
// matched before any other tokenization step, so pieces between them tokenize independently), then, where the
// tokenizer's pipeline provably cannot merge across it (tokenizer-cuts.ts), plain text is cut into chunks of a few
// hundred characters at content-defined points; each piece's ids are cached (bounded in memory) and the ids joined.
// A shared document thus costs a lookup per chunk, whatever follows it. A chunk not seen before is, with byte-level
// vocabularies, encoded word by word from a cache of words (byte-level-words.ts): new text is mostly known words.
// The cuts are checked against whole-text encoding when the tokenizer loads and not used if they differ.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import { replaceBpeWordCache } from "./bpe-word-cache.js";
import { ByteLevelWords, canonicalNormalizer } from "./byte-level-words.js";
import { PieceCache } from "./piece-cache.js";
import { SharedPrefixIds } from "./shared-prefix-ids.js";
import { cutRefused, nextCut, plainTextCuts, type CutVerdict } from "./tokenizer-cuts.js";

export interface ChatMessage {
  role: string;
  content?: string | { type: string; text?: string }[] | null;
  [field: string]: unknown;
}

export interface ChatOptions {
  /** Default true: end with the assistant turn's opening, as vLLM's chat endpoint does. */
  addGenerationPrompt?: boolean;
  /** Leave the last (assistant) message open for the model to continue. */
  continueFinalMessage?: boolean;
  /** The request's `chat_template_kwargs`, passed to the template. */
  templateKwargs?: Record<string, unknown>;
  /** The request's `tools`, passed to the template. */
  tools?: unknown;
}

interface AddedTokenSpec {
  id: number;
  content: string;
  special?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  single_word?: boolean;
}

/** Memory the piece cache may hold (estimated): a few hundred documents of ~2,500 tokens. */
const PIECE_CACHE_BYTES = 16 * 1024 * 1024;
/** Memory the word cache may hold (estimated): some 60,000 words. */
const WORD_CACHE_BYTES = 8 * 1024 * 1024;
/** Pieces shorter than this are encoded directly (cheaper than the lookup's bookkeeping). */
const PIECE_CACHE_MIN_CHARS = 64;
/** Plain text is cut at the first safe point at least this many characters into the current chunk. */
const CHUNK_CHARS = 256;

export class ModelTokenizer {
  private readonly pieceCache = new PieceCache(PIECE_CACHE_BYTES);
  private readonly splitter: RegExp | undefined;
  /** Whether text may be cut at added tokens: there are none, or the splitter agrees with whole-text encoding. */
  private readonly segmentsUsable: boolean;
  private readonly addedIds = new Map<string, number>();
  private readonly bosPrefix: number[];
  private readonly template: Template | undefined;
  private readonly specialTokens: Record<string, string>;
  /** Whether plain text is cut into chunks between added tokens, and why (or why not). */
  readonly plainCuts: CutVerdict;
  /** Plain text encoded word by word (byte-level vocabularies whose text may be cut); else undefined. */
  private readonly words: ByteLevelWords | undefined;
  /** Ids of long prefixes prompts share, when text may be cut at any cut point; else undefined. */
  private readonly sharedPrefixes: SharedPrefixIds | undefined;

  private constructor(
    /** Where the files came from, for messages. */
    readonly source: string,
    private readonly tokenizer: Tokenizer,
    tokenizerJson: Record<string, unknown>,
    config: Record<string, unknown>,
    chatTemplate: string | undefined,
  ) {
    this.template = chatTemplate === undefined ? undefined : new Template(chatTemplate);
    this.specialTokens = {};
    for (const name of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
      const v = tokenText(config[name]);
      if (v !== undefined) this.specialTokens[name] = v;
    }
    const added = (tokenizerJson.added_tokens ?? []) as AddedTokenSpec[];
    for (const t of added) this.addedIds.set(t.content, t.id);
    // What the post-processor puts in front of a prompt when special tokens are added (e.g. BOS).
    this.bosPrefix = tokenizer.encode("", { add_special_tokens: true }).ids;
    const plain = added.every((t) => !t.lstrip && !t.rstrip && !t.single_word);
    if (plain && added.length > 0) {
      const alternatives = added
        .map((t) => t.content)
        .sort((a, b) => b.length - a.length)
        .map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      this.splitter = new RegExp(`(${alternatives.join("|")})`);
    }
    this.segmentsUsable = added.length === 0 || (this.splitter !== undefined && this.cutsAgree(false));
    if (!this.segmentsUsable) this.splitter = undefined;
    let cuts = this.segmentsUsable
      ? plainTextCuts(tokenizerJson, config)
      : cutRefused("added tokens that strip spaces or disagree with whole-text encoding");
    if (cuts.safe && !this.cutsAgree(true)) cuts = cutRefused("cut and whole-text ids differed on a sample");
    this.plainCuts = cuts;
    // A shared prefix ends at any cut point, which must then not fall inside an added token.
    if (cuts.safe && added.every((t) => nextCut(t.content, 0) === undefined)) {
      this.sharedPrefixes = new SharedPrefixIds();
    }
    const normalize = canonicalNormalizer(tokenizerJson.normalizer);
    if (cuts.safe && !cuts.rule.startsWith("Metaspace") && normalize) {
      const tokenize = (text: string) => this.tokenizer.encode(text, { add_special_tokens: false });
      this.words = new ByteLevelWords(tokenize, normalize, WORD_CACHE_BYTES);
      // Three times: the words are new, then seen once before and kept, then answered from the cache.
      const viaWords = (piece: string) => this.words!.ids(piece) ?? this.encodePlain(piece);
      if (![1, 2, 3].every(() => this.cutsAgree(true, viaWords))) this.words = undefined;
    }
  }

  /** Loads `dir`'s tokenizer files; the error names the file and what is wrong with it. */
  static async load(dir: string): Promise<ModelTokenizer> {
    const json = await readJson(join(dir, "tokenizer.json"), true);
    const config = (await readJson(join(dir, "tokenizer_config.json"), false)) ?? {};
    let template = await readFile(join(dir, "chat_template.jinja"), "utf8").catch(() => undefined);
    if (template === undefined && typeof config.chat_template === "string") template = config.chat_template;
    if (template === undefined && Array.isArray(config.chat_template)) {
      // Named templates [{name, template}]: the "default" one is what a plain chat request gets.
      const named = (config.chat_template as { name?: string; template?: string }[]).find((t) => t.name === "default");
      template = named?.template;
    }
    return ModelTokenizer.fromJson(json!, config, template, dir);
  }

  /** A tokenizer from the parsed files (`source` names them in messages). */
  static fromJson(
    tokenizerJson: Record<string, unknown>,
    config: Record<string, unknown>,
    chatTemplate: string | undefined,
    source: string,
  ): ModelTokenizer {
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, config);
      replaceBpeWordCache(tokenizer);
    } catch (err) {
      throw new Error(
        `${join(source, "tokenizer.json")}: not a tokenizer this router can load (${(err as Error).message})`,
        { cause: err },
      );
    }
    return new ModelTokenizer(source, tokenizer, tokenizerJson, config, chatTemplate);
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** The prompt text of a chat request, as the engine renders it. */
  renderChat(messages: readonly ChatMessage[], o: ChatOptions = {}): string {
    if (!this.template) {
      throw new Error(`${this.source}: the tokenizer has no chat template (tokenizer_config.json "chat_template")`);
    }
    const continueFinal = o.continueFinalMessage === true;
    return this.template.render({
      ...this.specialTokens,
      ...o.templateKwargs,
      messages: messages.map(stringContent),
      add_generation_prompt: continueFinal ? false : (o.addGenerationPrompt ?? true),
      continue_final_message: continueFinal,
      tools: o.tools ?? null,
      documents: null,
    });
  }

  get pieceHits(): number {
    return this.pieceCache.hits;
  }

  get pieceMisses(): number {
    return this.pieceCache.misses;
  }

  /** Long prompts that started with a held shared prefix, and those that did not (0 when text is not cut). */
  get sharedPrefixHits(): number {
    return this.sharedPrefixes?.hits ?? 0;
  }

  get sharedPrefixMisses(): number {
    return this.sharedPrefixes?.misses ?? 0;
  }

  /** Words answered from the word cache, and words not found there (0 when text is not encoded by words). */
  get wordHits(): number {
    return this.words?.hits ?? 0;
  }

  get wordMisses(): number {
    return this.words?.misses ?? 0;
  }

  /** Estimated bytes the piece cache holds (bounded). */
  get pieceCacheBytes(): number {
    return this.pieceCache.bytes;
  }

  /** Token ids of `text`; `addSpecialTokens` runs the post-processor (BOS and the like). */
  encode(text: string, addSpecialTokens: boolean): number[] {
    if (!this.segmentsUsable || text.length < PIECE_CACHE_MIN_CHARS) {
      return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    }
    const lead = addSpecialTokens ? this.bosPrefix : [];
    if (this.sharedPrefixes) return this.sharedPrefixes.ids(text, (t) => this.cutIds(t), lead);
    return this.cutIds(text, lead);
  }

  /** `lead` then the ids of `text`, from the ids of the pieces it is cut into. */
  private cutIds(text: string, lead: readonly number[] = []): number[] {
    const ids = lead.slice();
    this.encodeCut(text, this.plainCuts.safe, (piece) => {
      for (const id of this.piece(piece)) ids.push(id);
    });
    return ids;
  }

  /** Token ids of `text` encoded in one piece (what `encode` must always equal). */
  encodeWhole(text: string, addSpecialTokens: boolean): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /** The engine's prompt token ids of a chat request. */
  chatTokenIds(messages: readonly ChatMessage[], o: ChatOptions = {}): number[] {
    return this.encode(this.renderChat(messages, o), false);
  }

  /** The engine's prompt token ids of a completions request. */
  completionTokenIds(prompt: string): number[] {
    return this.encode(prompt, true);
  }

  /** Cuts `text` at added tokens (and, with `plain`, within the text between them) and hands over each piece. */
  private encodeCut(text: string, plain: boolean, onPiece: (piece: string) => void): void {
    const parts = this.splitter ? text.split(this.splitter) : [text];
    for (const part of parts) {
      if (part === "") continue;
      if (!plain || part.length < 2 * CHUNK_CHARS) {
        onPiece(part);
        continue;
      }
      let start = 0;
      while (start < part.length) {
        const end = nextCut(part, start + CHUNK_CHARS) ?? part.length;
        onPiece(part.slice(start, end));
        start = end;
      }
    }
  }

  private piece(text: string): readonly number[] {
    const added = this.addedIds.get(text);
    if (added !== undefined) return [added];
    if (text.length < PIECE_CACHE_MIN_CHARS) return this.plainIds(text);
    return this.pieceCache.ids(text, (t) => this.plainIds(t));
  }

  /** Ids of text between added tokens: word by word where that is proven the same, else in one call. */
  private plainIds(text: string): readonly number[] {
    return this.words?.ids(text) ?? this.encodePlain(text);
  }

  private encodePlain(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * Whether cutting (at added tokens, and in plain text with `plain`) and encoding each piece with `encodePiece` gives
   * the whole-text ids on samples.
   */
  private cutsAgree(plain: boolean, encodePiece = (piece: string) => this.encodePlain(piece)): boolean {
    const specials = [...this.addedIds.keys()].slice(0, 4);
    const filler = "Some text, with punctuation:\n  and spaces\t; a café, 東京 and 42 numbers. ".repeat(8);
    const samples = [filler, ...specials.map((s) => `${filler}${s}${filler} ${s}\n${filler}${filler}${s}x`)];
    for (const sample of samples) {
      const whole = this.tokenizer.encode(sample, { add_special_tokens: false }).ids;
      const cut: number[] = [];
      this.encodeCut(sample, plain, (piece) => {
        const added = this.addedIds.get(piece);
        if (added !== undefined) cut.push(added);
        else cut.push(...encodePiece(piece));
      });
      if (whole.length !== cut.length || whole.some((id: number, i: number) => id !== cut[i])) return false;
    }
    return true;
  }
}

function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return undefined;
}

/** vLLM's "string" content format: a list of parts becomes its text parts joined by a newline. */
function stringContent(m: ChatMessage): ChatMessage {
  if (!Array.isArray(m.content)) return { ...m, content: m.content ?? "" };
  const text = m.content
    .filter((p) => p.type === "text" && typeof p.text === "string")
    .map((p) => p.text!)
    .join("\n");
  return { ...m, content: text };
}

async function readJson(path: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`${path}: cannot read the model's tokenizer file (${(err as Error).message})`, { cause: err });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}
