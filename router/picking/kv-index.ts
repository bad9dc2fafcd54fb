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

  /** Leading blocks of `hashes` each endpoint in `ids` holds (endpoints holding none are absent). */
  matchDepths(hashes: readonly bigint[], ids: readonly string[]): Map<string, number> {
    const depths = new Map<string, number>();
    // Endpoints still holding every block so far, compacted in place; an endpoint's depth is recorded once, when
    // it drops out or at the end (no per-block allocation: prompts run to hundreds of blocks).
    const alive = ids.slice();
    let n = alive.length;
    let i = 0;
    for (; i < hashes.length && n > 0; i++) {
      const s = this.holders.get(hashes[i]!);
      if (!s) break;
      let k = 0;
      for (let j = 0; j < n; j++) {
        const id = alive[j]!;
        if (s.has(id)) alive[k++] = id;
        else if (i > 0) depths.set(id, i);
      }
      n = k;
    }
    for (let j = 0; j < n; j++) if (i > 0) depths.set(alive[j]!, i);
    return depths;
  }

  blocks(id: string): number {
    return this.byEndpoint.get(id)?.size ?? 0;
  }
}
