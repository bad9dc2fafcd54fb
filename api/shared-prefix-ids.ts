// Token ids of the long prefixes prompts share (a tenant's document or system prompt, a conversation's earlier turns),
// so that a prompt which starts with one costs a lookup, a comparison and the encoding of what follows it, not a
// lookup per chunk of the whole text.
//
// Entries are keyed by a prompt's first `keyChars` characters and hold a prefix of it that ends at a cut point
// (tokenizer-cuts.ts), with that prefix's ids: by the rule that makes the cut safe, the prompt's ids are the prefix's
// ids followed by the ids of the rest. When two prompts under one key diverge, the entry is cut back to the last cut
// point they share (the part a tenant's prompts have in common); a prompt that extends an unshared entry (the next
// turn of a conversation) replaces it. Least recently used entries go first, within a bound on characters held.
import { MapEvictor } from "./map-evictor.js";
import { commonPrefixLength, ownCopy } from "./strings.js";
import { lastCut } from "./tokenizer-cuts.js";

export interface SharedPrefixIdsOptions {
  /** Leading characters that key an entry. */
  keyChars: number;
  /** Prompts shorter than this are encoded directly. */
  minChars: number;
  /** Most characters held over all entries (their ids add about 2 bytes a character: an id per ~4 characters). */
  maxChars: number;
}

export const defaultSharedPrefixIdsOptions: SharedPrefixIdsOptions = {
  keyChars: 256,
  minChars: 1024,
  maxChars: 4_000_000,
};

interface Entry {
  /** The key it is stored under (a slice of `text`, which the entry owns). */
  key: string;
  /** A prompt prefix ending at a cut point: a copy, never a slice of a request's prompt. */
  text: string;
  ids: readonly number[];
  /** Cut back to what two prompts shared: only a prompt at least twice as long replaces it. */
  shared: boolean;
}

const NONE: readonly number[] = [];

/** `lead` then `ids`, taking `ids` itself when there is no lead (it is the caller's own array). */
function joined(lead: readonly number[], ids: number[]): number[] {
  return lead.length === 0 ? ids : lead.concat(ids);
}

export class SharedPrefixIds {
  private readonly entries = new Map<string, Entry>();
  private readonly evictor = new MapEvictor(this.entries);
  private heldChars = 0;
  /** Prompts that reused a held prefix / that did not. */
  hits = 0;
  misses = 0;

  constructor(private readonly o: SharedPrefixIdsOptions = defaultSharedPrefixIdsOptions) {}

  get chars(): number {
    return this.heldChars;
  }

  /**
   * `lead` followed by the ids of `text`: a held prefix's ids and `encode` of the rest, or `encode` of pieces it is
   * cut into. The answer is built in one piece (a long prompt's ids are tens of kilobytes; a copy per part would
   * double what a request allocates), so a caller that puts ids in front of the text's (a BOS token) passes them here.
   */
  ids(text: string, encode: (text: string) => number[], lead: readonly number[] = NONE): number[] {
    if (text.length < this.o.minChars) return joined(lead, encode(text));
    const key = text.slice(0, this.o.keyChars);
    const held = this.entries.get(key);
    if (held && text.length >= held.text.length && text.slice(0, held.text.length) === held.text) {
      this.hits++;
      const at = held.text.length;
      const cut = !held.shared || text.length >= 2 * at ? lastCut(text, text.length) : undefined;
      if (cut === undefined || cut <= at) {
        this.touch(held);
        return lead.concat(held.ids, encode(text.slice(at)));
      }
      const longer = held.ids.concat(encode(text.slice(at, cut)));
      this.store(text.slice(0, cut), longer, false);
      return lead.concat(longer, encode(text.slice(cut)));
    }
    this.misses++;
    // Diverging from the held prefix: keep what the two share, if that is long enough to be worth an entry.
    const sharedCut = held ? lastCut(text, commonPrefixLength(held.text, text)) : undefined;
    const shared = sharedCut !== undefined && sharedCut >= this.o.minChars;
    const cut = shared ? sharedCut : lastCut(text, text.length);
    if (cut === undefined || cut < this.o.keyChars) return joined(lead, encode(text));
    const head = encode(text.slice(0, cut));
    this.store(text.slice(0, cut), head, shared);
    return lead.concat(head, encode(text.slice(cut)));
  }

  private touch(e: Entry): void {
    this.entries.delete(e.key);
    this.entries.set(e.key, e);
  }

  private store(prefix: string, ids: readonly number[], shared: boolean): void {
    // A budget share per entry, so that one huge prompt cannot flush every tenant's prefix.
    if (prefix.length > this.o.maxChars / 8) return;
    // A copy of its own: the prefix is a slice that would keep the whole request's prompt alive.
    const text = ownCopy(prefix);
    const key = text.slice(0, this.o.keyChars);
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.heldChars -= old.text.length;
    }
    this.entries.set(key, { key, text, ids, shared });
    this.heldChars += text.length;
    while (this.heldChars > this.o.maxChars) this.heldChars -= this.evictor.evictOldest()![1].text.length;
  }
}
