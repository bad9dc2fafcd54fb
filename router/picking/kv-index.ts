// Exact prefix index fed by engine KV events: which endpoint holds which KV block right now, as the engines report
// it. Keys are the engines' own block hashes, so a lookup with the same hash function is exact, not a guess.
import type { KvEventBatch } from "../../engines/kv-events.js";

export class KvBlockIndex {
  /** block hash → endpoint ids holding it. */
  private holders = new Map<bigint, Set<string>>();
  /** endpoint id → its blocks (for AllBlocksCleared and endpoint removal). */
  private byEndpoint = new Map<string, Set<bigint>>();
  events = 0;

  apply(id: string, batch: KvEventBatch): void {
    for (const ev of batch.events) {
      this.events++;
      if (ev.type === "BlockStored") for (const h of ev.hashes) this.add(id, h);
      else if (ev.type === "BlockRemoved") for (const h of ev.hashes) this.remove(id, h);
      else this.forget(id);
    }
  }

  private add(id: string, h: bigint): void {
    let s = this.holders.get(h);
    if (!s) this.holders.set(h, (s = new Set()));
    s.add(id);
    let mine = this.byEndpoint.get(id);
    if (!mine) this.byEndpoint.set(id, (mine = new Set()));
    mine.add(h);
  }

  private remove(id: string, h: bigint): void {
    const s = this.holders.get(h);
    if (s) {
      s.delete(id);
      if (s.size === 0) this.holders.delete(h);
    }
    this.byEndpoint.get(id)?.delete(h);
  }

  forget(id: string): void {
    const mine = this.byEndpoint.get(id);
    if (!mine) return;
    for (const h of mine) {
      const s = this.holders.get(h);
      if (s) {
        s.delete(id);
        if (s.size === 0) this.holders.delete(h);
      }
    }
    this.byEndpoint.delete(id);
  }

  /** Leading blocks of `hashes` each endpoint in `ids` holds. */
  matchDepths(hashes: readonly bigint[], ids: readonly string[]): Map<string, number> {
    const depths = new Map<string, number>();
    let alive: string[] = [...ids];
    for (let i = 0; i < hashes.length && alive.length > 0; i++) {
      const s = this.holders.get(hashes[i]!);
      if (!s) break;
      alive = alive.filter((id) => s.has(id));
      for (const id of alive) depths.set(id, i + 1);
    }
    return depths;
  }

  blocks(id: string): number {
    return this.byEndpoint.get(id)?.size ?? 0;
  }
}
