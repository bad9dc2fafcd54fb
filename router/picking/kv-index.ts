// Exact prefix index fed by engine KV events: which endpoint holds which KV block right now, as the engines report
// it. Keys are the engines' own block hashes, so a lookup with the same hash function is exact, not a guess.
//
// An engine may hold one block in several places: its GPU pool and an offload tier (`medium` "CPU", …), or several
// KV-cache groups of a hybrid model (`group_idx`). Each place is tracked on its own, so an eviction from one place
// leaves the block held while another place still has it.
import type { KvEventBatch } from "../../engines/kv-events.js";

/** The place a block lives in on one endpoint: medium and KV-cache group. */
function placeOf(medium: string | undefined, groupIdx: number | undefined): string {
  return `${medium ?? "GPU"}/${groupIdx ?? 0}`;
}

const inGpu = (place: string) => place.startsWith("GPU/");

/** A block's holders: endpoints holding it anywhere, and those holding it in GPU memory (no load needed). */
type Holders = Map<bigint, Set<string>>;

function hold(holders: Holders, h: bigint, id: string): void {
  let s = holders.get(h);
  if (!s) holders.set(h, (s = new Set()));
  s.add(id);
}

function release(holders: Holders, h: bigint, id: string): void {
  const s = holders.get(h);
  if (!s) return;
  s.delete(id);
  if (s.size === 0) holders.delete(h);
}

export class KvBlockIndex {
  /** block hash → endpoint ids holding it somewhere. */
  private holders: Holders = new Map();
  /**
   * block hash → endpoint ids holding it in GPU memory. Undefined until some endpoint reports a block outside GPU
   * memory: until then it would equal `holders`, and most fleets have no offload tier, so keeping a second copy of
   * the largest map here would double its memory and its work per event for nothing.
   */
  private gpuHolders: Holders | undefined;
  /** endpoint id → its blocks, each with the places holding it (for removals, clears and endpoint removal). */
  private byEndpoint = new Map<string, Map<bigint, string[]>>();
  events = 0;

  apply(id: string, batch: KvEventBatch): void {
    for (const ev of batch.events) {
      this.events++;
      if (ev.type === "BlockStored") {
        const place = placeOf(ev.medium, ev.groupIdx);
        for (const h of ev.hashes) this.add(id, h, place);
      } else if (ev.type === "BlockRemoved") {
        const place = placeOf(ev.medium, ev.groupIdx);
        for (const h of ev.hashes) this.remove(id, h, place);
      } else this.forget(id);
    }
  }

  private add(id: string, h: bigint, place: string): void {
    if (!this.gpuHolders && !inGpu(place)) this.gpuHolders = this.gpuHoldersOfPlaces();
    let mine = this.byEndpoint.get(id);
    if (!mine) this.byEndpoint.set(id, (mine = new Map()));
    const places = mine.get(h);
    if (places?.includes(place)) return;
    if (this.gpuHolders && inGpu(place) && !places?.some(inGpu)) hold(this.gpuHolders, h, id);
    if (places) {
      places.push(place);
      return;
    }
    mine.set(h, [place]);
    hold(this.holders, h, id);
  }

  private remove(id: string, h: bigint, place: string): void {
    const mine = this.byEndpoint.get(id);
    const places = mine?.get(h);
    if (!mine || !places) return;
    const at = places.indexOf(place);
    if (at < 0) return;
    places.splice(at, 1);
    if (this.gpuHolders && inGpu(place) && !places.some(inGpu)) release(this.gpuHolders, h, id);
    if (places.length > 0) return;
    mine.delete(h);
    release(this.holders, h, id);
  }

  forget(id: string): void {
    const mine = this.byEndpoint.get(id);
    if (!mine) return;
    for (const h of mine.keys()) {
      release(this.holders, h, id);
      if (this.gpuHolders) release(this.gpuHolders, h, id);
    }
    this.byEndpoint.delete(id);
  }

  /** Leading blocks of `hashes` each endpoint in `ids` holds (endpoints holding none are absent). */
  matchDepths(hashes: readonly bigint[], ids: readonly string[]): Map<string, number> {
    return leadingDepths(this.holders, hashes, ids);
  }

  /**
   * Prefix depth weighted by where the blocks are: a block in the endpoint's GPU counts 1, one it would load from
   * an offload or shared tier (`medium` other than GPU) counts `offloadedWeight` — cheaper than computing it, dearer
   * than having it. An endpoint with the prefix in GPU ranks first, then one that can load it, then recompute.
   */
  weightedDepths(hashes: readonly bigint[], ids: readonly string[], offloadedWeight: number): Map<string, number> {
    const any = leadingDepths(this.holders, hashes, ids);
    // Without gpuHolders every block is in GPU memory: the weighted depth is the plain one.
    if (offloadedWeight === 1 || !this.gpuHolders) return any;
    const gpu = leadingDepths(this.gpuHolders, hashes, ids);
    for (const [id, d] of any) {
      const g = gpu.get(id) ?? 0;
      any.set(id, g + offloadedWeight * (d - g));
    }
    return any;
  }

  /** The GPU holders as the places recorded so far say (built once, when the first block outside GPU arrives). */
  private gpuHoldersOfPlaces(): Holders {
    const gpu: Holders = new Map();
    for (const [id, mine] of this.byEndpoint) {
      for (const [h, places] of mine) if (places.some(inGpu)) hold(gpu, h, id);
    }
    return gpu;
  }

  blocks(id: string): number {
    return this.byEndpoint.get(id)?.size ?? 0;
  }
}

/** Leading blocks of `hashes` each endpoint in `ids` holds per `holders` (endpoints holding none are absent). */
function leadingDepths(holders: Holders, hashes: readonly bigint[], ids: readonly string[]): Map<string, number> {
  const depths = new Map<string, number>();
  // Endpoints still holding every block so far, compacted in place; an endpoint's depth is recorded once, when
  // it drops out or at the end (no per-block allocation: prompts run to hundreds of blocks).
  const alive = ids.slice();
  let n = alive.length;
  let i = 0;
  for (; i < hashes.length && n > 0; i++) {
    const s = holders.get(hashes[i]!);
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
