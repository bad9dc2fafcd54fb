// The engine model: vLLM V1's continuous-batching scheduler over a paged KV cache, advanced one step at a time.
//
// The engine knows nothing about wall-clock time. A driver asks it to `plan(now)` a step (which requests run, how
// many tokens each computes, and how long the step lasts on the simulated GPU), waits that long (really, scaled, or
// not at all for offline runs), then calls `commit(step, end)`, which advances every scheduled request and emits
// tokens. One step serves every running request, so one timer drives the whole engine.
//
// Scheduling follows vLLM V1: running requests first (decode 1 token, or the next prefill chunk), each allocating the
// KV blocks it needs and preempting the newest running request (recompute) when blocks run out; then waiting requests
// in arrival order while `maxNumSeqs`, the per-step token budget (`maxNumBatchedTokens`, chunked prefill), free blocks
// and LoRA slots allow. Admission looks up the longest cached prefix by chained block hashes.
//
// Step time: step-cost.ts (b0..b4 over the step's prefill, decode, context and attention work) [+ LoRA loads].
// Loads from a shared KV tier are not in it: like vLLM's offloading connector, they run beside the batch while the
// request that needs them waits (its blocks held), and it is scheduled at the first step boundary after they finish.
import { blockDigests, digestKey, type BlockHashOptions, type PrefixHashAlgo } from "../api/block-hash.js";
import { BlockPool, type KvEvent } from "./kv-cache.js";
import type { SharedKvTier } from "./shared-tier.js";
import { stepSeconds, tallyStep, type StepCoefficients, type StepWork } from "./step-cost.js";

export type { StepCoefficients } from "./step-cost.js";

export type CapacityPolicy = "preempt" | "guaranteed-no-evict";

export interface EngineConfig {
  blockSize: number;
  numGpuBlocks: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  maxModelLen: number;
  maxLoras: number;
  /** Seconds added to the step that brings an adapter into a GPU LoRA slot. */
  loraLoadSeconds: number;
  step: StepCoefficients;
  /**
   * How KV capacity is shared. "preempt" (default, vLLM): a request is let in when its next chunk's blocks are free,
   * and the newest running request is preempted (recomputed later) when blocks run out. "guaranteed-no-evict"
   * (TensorRT-LLM's default capacity policy, under which its published throughput figures were measured): a request
   * is let in only when the cache can hold its prompt plus max_tokens beside what every running request still needs
   * to finish, so nothing is ever preempted.
   */
  capacityPolicy?: CapacityPolicy;
  /** vLLM's --prefix-caching-hash-algo (default sha256) and PYTHONHASHSEED (default unset). */
  prefixHashAlgo?: PrefixHashAlgo;
  prefixHashSeed?: string;
}

export type FinishReason = "length" | "stop" | "abort";

export interface EngineRequest {
  id: string;
  promptTokens: readonly number[];
  /** Tokens to generate before finishing. */
  maxTokens: number;
  /** Finish reason once `maxTokens` are generated ("stop" models an end-of-sequence or stop string). */
  finishReason: "length" | "stop";
  /** The adapter as loaded: its name and path key the blocks, as in vLLM. */
  lora?: { name: string; id: number; path: string };
  /** Token id of the i-th generated token. */
  outputToken(i: number): number;
  /** Called once per generated token, at the simulated time its step ends. */
  onToken(index: number, now: number): void;
  /** Called when the request is first scheduled, with the prompt tokens found in the prefix cache. */
  onScheduled?(cachedTokens: number): void;
  onFinish(reason: FinishReason, now: number): void;
}

interface Seq {
  req: EngineRequest;
  tokens: number[];
  numPrompt: number;
  generated: number;
  numComputed: number;
  blocks: number[];
  /** Keys of the full blocks of `tokens` (vLLM's block hashes, as KV events carry them). */
  hashes: bigint[];
  /** Digest of the last full block, the parent of the next one. */
  lastDigest: Buffer | undefined;
  /** Blocks [0, numStored) hold content already registered with the cache (stored here, or taken as a hit). */
  numStored: number;
  /** Blocks [0, numOffloaded) have been sent to the shared tier (or were loaded from it). */
  numOffloaded: number;
  /** When the load of its prefix from the shared tier is done (set when it starts one). */
  tierLoadDoneAt: number | null;
  arrival: number;
  scheduledAt: number | null;
  firstTokenAt: number | null;
  lastTokenAt: number;
  finished: boolean;
}

export interface ScheduledWork {
  seq: Seq;
  tokens: number;
}

/** How a waiting request fared: it runs `tokens`, started a tier load, waits for another's, or found no blocks. */
type Admission =
  { kind: "run"; tokens: number } | { kind: "loading"; blocks: number } | { kind: "delayed" } | { kind: "noBlocks" };

export interface Step extends StepWork {
  /** Empty when the engine only waits on shared-tier loads (vLLM's engine keeps stepping with nothing scheduled). */
  work: ScheduledWork[];
  loraLoads: number;
  /** Blocks whose load from the shared tier this step started (the loads run beside it, not in its duration). */
  tierBlocks: number;
  duration: number;
}

/** Per-step facts the metrics layer records. */
export interface StepObserver {
  onAdmitted?(queuedSeconds: number): void;
  /** The GPU prefix cache's lookup (vLLM's prefix_cache_* counters count only this). */
  onPrefixLookup?(queriedTokens: number, hitTokens: number): void;
  /** The shared tier's lookup, as vLLM counts a KV connector's (external_prefix_cache_*): tokens it loaded. */
  onExternalLookup?(queriedTokens: number, loadedTokens: number): void;
  onPreempted?(): void;
  onFirstToken?(ttftSeconds: number, promptTokens: number): void;
  onInterToken?(seconds: number): void;
  onFinished?(reason: FinishReason, e2eSeconds: number, promptTokens: number, generated: number): void;
}

export class Engine {
  readonly config: EngineConfig;
  readonly pool: BlockPool;
  private waiting: Seq[] = [];
  private running: Seq[] = [];
  private readonly byId = new Map<string, Seq>();
  /** Adapters resident in GPU LoRA slots, in least-recently-used order (Map keeps insertion order). */
  private readonly gpuLoras = new Map<string, number>();
  observer: StepObserver = {};
  preemptions = 0;

  /** The fleet's shared KV tier, when one is configured. */
  readonly sharedTier?: SharedKvTier;
  /**
   * Requests loading their prefix from the shared tier (vLLM's WAITING_FOR_REMOTE_KVS): they hold their blocks and
   * wait while the batch runs on.
   */
  private loading: Seq[] = [];
  /** Requests that started a tier load and have not run since: their blocks are reserved for their prompts. */
  private readonly tierLoaders = new Set<Seq>();
  /** When this engine's link to the tier is free: loads queue on it. */
  private tierLinkFreeAt = 0;
  /** Blocks the last step sent to the shared tier: they land when the next step ends. */
  private offloading: bigint[] = [];
  /** Stops forwarding the shared tier's events (the engine is going away; the tier lives on). */
  detach: () => void = () => undefined;

  constructor(config: EngineConfig, options: { sharedTier?: SharedKvTier } = {}) {
    this.config = config;
    this.pool = new BlockPool(config.numGpuBlocks);
    const tier = options.sharedTier;
    if (tier) {
      this.sharedTier = tier;
      this.detach = tier.subscribe((event) =>
        this.pool.pushEvent(event.type === "BlockStored" ? { ...event, blockSize: config.blockSize } : event),
      );
    }
  }

  private hashOptions(req: EngineRequest): BlockHashOptions {
    const o: BlockHashOptions = { algo: this.config.prefixHashAlgo ?? "sha256" };
    if (this.config.prefixHashSeed !== undefined) o.seed = this.config.prefixHashSeed;
    if (req.lora) o.lora = { name: req.lora.name, path: req.lora.path };
    return o;
  }

  get numRunning(): number {
    return this.running.length;
  }

  /** Queued requests, those loading from the shared tier included (vLLM counts them as waiting). */
  get numWaiting(): number {
    return this.waiting.length + this.loading.length;
  }

  hasWork(): boolean {
    return this.running.length > 0 || this.waiting.length > 0 || this.loading.length > 0;
  }

  runningLoras(): string[] {
    return [...new Set(this.running.flatMap((s) => (s.req.lora ? [s.req.lora.name] : [])))];
  }

  waitingLoras(): string[] {
    return [...new Set(this.waiting.flatMap((s) => (s.req.lora ? [s.req.lora.name] : [])))];
  }

  /** Earliest arrival among waiting requests (undefined when none wait). */
  nextArrival(): number | undefined {
    let min: number | undefined;
    for (const s of this.waiting) if (min === undefined || s.arrival < min) min = s.arrival;
    return min;
  }

  /** Queues a request (admission happens at the next step). */
  submit(req: EngineRequest, now: number): void {
    if (this.byId.has(req.id)) throw new Error(`request id ${req.id} is already in the engine`);
    const tokens = req.promptTokens.slice();
    const digests = blockDigests(tokens, this.config.blockSize, this.hashOptions(req));
    const seq: Seq = {
      req,
      tokens,
      numPrompt: tokens.length,
      generated: 0,
      numComputed: 0,
      blocks: [],
      hashes: digests.map(digestKey),
      lastDigest: digests.at(-1),
      numStored: 0,
      numOffloaded: 0,
      tierLoadDoneAt: null,
      arrival: now,
      scheduledAt: null,
      firstTokenAt: null,
      lastTokenAt: now,
      finished: false,
    };
    this.byId.set(req.id, seq);
    this.waiting.push(seq);
  }

  /** Drops a request (client went away); its blocks return to the cache. */
  abort(id: string, now: number): void {
    const seq = this.byId.get(id);
    if (!seq || seq.finished) return;
    this.finish(seq, "abort", now);
    this.running = this.running.filter((s) => s !== seq);
    this.waiting = this.waiting.filter((s) => s !== seq);
    this.loading = this.loading.filter((s) => s !== seq);
    this.tierLoaders.delete(seq);
  }

  /** Forgets an adapter's GPU slot (after unload). */
  evictLora(name: string): void {
    this.gpuLoras.delete(name);
  }

  /** Moves an adapter to the most recently used end of the GPU's LoRA slots. */
  private touchLora(lora: string): void {
    this.gpuLoras.delete(lora);
    this.gpuLoras.set(lora, 1);
  }

  /** Chooses the next step's work; null when idle. */
  plan(now: number): Step | null {
    if (!this.hasWork()) return null;
    this.finishTierLoads(now);
    const cfg = this.config;
    let budget = cfg.maxNumBatchedTokens;
    const work: ScheduledWork[] = [];
    let preempted = false;

    // 1. Running requests, oldest first; preempt from the newest end when blocks run out.
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const seq = this.running[i] as Seq;
      const n = Math.min(seq.tokens.length - seq.numComputed, budget);
      if (n <= 0) continue;
      const need = this.blocksNeeded(seq, n);
      let ok = need === 0;
      while (!ok) {
        const got = this.pool.allocate(need);
        if (got) {
          seq.blocks.push(...got);
          ok = true;
          break;
        }
        const victim = this.running[this.running.length - 1] as Seq;
        this.preempt(victim);
        preempted = true;
        if (victim === seq) break;
      }
      if (!ok) break;
      work.push({ seq, tokens: n });
      budget -= n;
    }

    // 2. Waiting requests in arrival order, unless this step had to preempt (as vLLM does).
    const { loraLoads, tierBlocks } = preempted
      ? { loraLoads: 0, tierBlocks: 0 }
      : this.admitWaiting(now, budget, work);

    if (work.length === 0) return this.loading.length > 0 ? this.tierWait(now, tierBlocks) : null;
    const tally = tallyStep(
      work.map((w) => ({
        computed: w.seq.numComputed,
        tokens: w.tokens,
        decoding: w.seq.numComputed >= w.seq.numPrompt,
      })),
    );
    const duration = stepSeconds(cfg.step, tally) + loraLoads * cfg.loraLoadSeconds;
    return { work, ...tally, loraLoads, tierBlocks, duration };
  }

  /**
   * Admits waiting requests in arrival order while seats, the token budget, free blocks and LoRA slots allow. One
   * whose prefix is in the shared tier starts loading it instead (it holds its blocks but takes no seat or budget);
   * one whose tier blocks another request is loading waits for that load, then finds them in GPU KV.
   */
  private admitWaiting(now: number, budget: number, work: ScheduledWork[]): { loraLoads: number; tierBlocks: number } {
    let loraLoads = 0;
    let tierBlocks = 0;
    const skipped: Seq[] = [];
    while (this.waiting.length > 0 && budget > 0 && this.running.length < this.config.maxNumSeqs) {
      const seq = this.waiting[0] as Seq;
      // Causality: a request stamped after this step starts waits for a later step (the real-time driver can run
      // behind the wall clock on a busy host; arrivals are stamped by the wall clock).
      if (seq.arrival > now) break;
      const lora = seq.req.lora?.name;
      const loadsLora = lora !== undefined && !this.gpuLoras.has(lora);
      if (loadsLora && !this.makeLoraSlot()) {
        skipped.push(this.waiting.shift() as Seq);
        continue;
      }
      // A request back from a tier load holds its prefix's blocks already; any other looks its prefix up.
      const admission = seq.blocks.length > 0 ? this.allocateAfterLoad(seq, budget) : this.admitFresh(seq, now, budget);
      if (admission.kind === "noBlocks") break;
      this.waiting.shift();
      if (admission.kind === "delayed") {
        skipped.push(seq);
        continue;
      }
      if (admission.kind === "loading") {
        tierBlocks += admission.blocks;
        continue;
      }
      if (loadsLora) loraLoads++;
      if (lora !== undefined) this.touchLora(lora);
      if (seq.scheduledAt === null) {
        seq.scheduledAt = now;
        seq.req.onScheduled?.(seq.numComputed);
        this.observer.onAdmitted?.(now - seq.arrival);
      }
      this.running.push(seq);
      work.push({ seq, tokens: admission.tokens });
      budget -= admission.tokens;
    }
    if (skipped.length > 0) this.waiting.unshift(...skipped);
    return { loraLoads, tierBlocks };
  }

  /** A request's first admission: its GPU prefix hit, then (with a shared tier) the run of next blocks found there. */
  private admitFresh(seq: Seq, now: number, budget: number): Admission {
    const cfg = this.config;
    // Never reuse the very last token: at least one token is computed to produce logits.
    const maxHit = Math.floor((seq.tokens.length - 1) / cfg.blockSize);
    const hitBlocks = this.pool.longestCachedPrefix(seq.hashes, maxHit);
    const loaded = this.sharedTier ? this.sharedTier.prefixRun(seq.hashes, hitBlocks, maxHit) : 0;
    if (loaded > 0 && this.beingLoaded(seq.hashes, hitBlocks, hitBlocks + loaded)) return { kind: "delayed" };
    const cachedTokens = (hitBlocks + loaded) * cfg.blockSize;
    // A request that loads from the tier computes nothing until its load is done: it takes blocks for the load only.
    const n = loaded > 0 ? 0 : Math.min(seq.tokens.length - cachedTokens, budget);
    const need = Math.ceil((cachedTokens + n) / cfg.blockSize) - hitBlocks;
    // Take the hit first so allocation cannot evict the very blocks we are about to reuse.
    const hitIds = this.pool.acquireCached(seq.hashes, hitBlocks);
    if (loaded > 0 && !this.fitsTierLoad(seq, hitBlocks, need)) {
      this.pool.release(hitIds);
      return { kind: "noBlocks" };
    }
    const got = this.reservesToFinish(seq, hitBlocks) ? this.pool.allocate(need) : null;
    if (!got) {
      this.pool.release(hitIds);
      return { kind: "noBlocks" };
    }
    seq.blocks = [...hitIds, ...got];
    seq.numComputed = cachedTokens;
    seq.numStored = hitBlocks;
    this.observer.onPrefixLookup?.(seq.tokens.length, hitBlocks * cfg.blockSize);
    if (this.sharedTier) {
      this.noteTierLookup(seq, hitBlocks, loaded);
      this.observer.onExternalLookup?.(seq.tokens.length, loaded * cfg.blockSize);
    }
    if (loaded === 0) return { kind: "run", tokens: n };
    this.startTierLoad(seq, now, loaded);
    return { kind: "loading", blocks: loaded };
  }

  /** A request whose tier load is done: it runs from the loaded prefix on, in the blocks it holds plus new ones. */
  private allocateAfterLoad(seq: Seq, budget: number): Admission {
    const n = Math.min(seq.tokens.length - seq.numComputed, budget);
    const got = this.pool.allocate(this.blocksNeeded(seq, n));
    if (!got) return { kind: "noBlocks" };
    seq.blocks.push(...got);
    this.tierLoaders.delete(seq);
    return { kind: "run", tokens: n };
  }

  /**
   * vLLM's guard for loads (a load holds its blocks with no forward progress and cannot be preempted): the whole prompt
   * must fit in free blocks, and the load's blocks must leave free what the loads in flight still need to finish
   * their prompts — else loads could hold every block with none able to finish.
   */
  private fitsTierLoad(seq: Seq, hitBlocks: number, need: number): boolean {
    const free = this.pool.freeBlocks;
    let reserved = 0;
    for (const other of this.tierLoaders) reserved += this.promptBlocks(other) - other.blocks.length;
    return this.promptBlocks(seq) - hitBlocks <= free && need <= free - reserved;
  }

  /**
   * Under "guaranteed-no-evict", whether the free blocks cover this request's prompt plus max_tokens (less the cached
   * blocks it takes) beside what every running request still needs to finish; always true under "preempt".
   */
  private reservesToFinish(seq: Seq, hitBlocks: number): boolean {
    if (this.config.capacityPolicy !== "guaranteed-no-evict") return true;
    const bs = this.config.blockSize;
    const toFinish = (s: Seq, held: number) => Math.ceil((s.numPrompt + s.req.maxTokens) / bs) - held;
    let reserved = 0;
    for (const s of this.running) reserved += Math.max(0, toFinish(s, s.blocks.length));
    return this.pool.freeBlocks - reserved >= toFinish(seq, hitBlocks);
  }

  private promptBlocks(seq: Seq): number {
    return Math.ceil(seq.numPrompt / this.config.blockSize);
  }

  /** Whether another request's load in flight brings any of `hashes[from..to)` (vLLM delays such a request). */
  private beingLoaded(hashes: readonly bigint[], from: number, to: number): boolean {
    if (this.loading.length === 0) return false;
    const wanted = new Set(hashes.slice(from, to));
    for (const other of this.loading) {
      const end = Math.floor(other.numComputed / this.config.blockSize);
      for (let i = other.numStored; i < end; i++) if (wanted.has(other.hashes[i]!)) return true;
    }
    return false;
  }

  /**
   * Starts moving `blocks` blocks from the tier into the request's GPU blocks, beside the batch (vLLM's offloading
   * connector loads asynchronously: the request waits, the batch runs on). Loads queue on the engine's link to the
   * tier, each taking bytes / bandwidth.
   */
  private startTierLoad(seq: Seq, now: number, blocks: number): void {
    const start = Math.max(now, this.tierLinkFreeAt);
    seq.tierLoadDoneAt = start + this.sharedTier!.loadSeconds(blocks);
    this.tierLinkFreeAt = seq.tierLoadDoneAt;
    this.loading.push(seq);
    this.tierLoaders.add(seq);
  }

  /**
   * Requests whose load finished by `now` (a step boundary: vLLM learns of finished loads from the step's output) go
   * back to the head of the queue, and their loaded blocks join the GPU prefix cache.
   */
  private finishTierLoads(now: number): void {
    if (this.loading.length === 0) return;
    const done = this.loading.filter((s) => (s.tierLoadDoneAt ?? now) <= now);
    if (done.length === 0) return;
    this.loading = this.loading.filter((s) => !done.includes(s));
    for (const seq of done) this.storeFullBlocks(seq);
    this.waiting.unshift(...done);
  }

  /** Nothing to compute while loads are in flight: an empty step until the first of them is done. */
  private tierWait(now: number, tierBlocks: number): Step {
    let doneAt = Infinity;
    for (const s of this.loading) doneAt = Math.min(doneAt, s.tierLoadDoneAt ?? now);
    const duration = Math.max(0, doneAt - now);
    const idle = tallyStep([]);
    return { work: [], ...idle, loraLoads: 0, tierBlocks, duration };
  }

  /** Applies a planned step that ended at `now`: advances requests, emits tokens, finishes and frees. */
  commit(step: Step, now: number): void {
    const bs = this.config.blockSize;
    let anyFinished = false;
    const landed = this.offloading;
    this.offloading = [];
    for (const { seq, tokens } of step.work) {
      if (seq.finished) continue; // aborted mid-step
      seq.numComputed += tokens;
      this.storeFullBlocks(seq);
      this.offloadFullBlocks(seq);
      if (seq.numComputed < seq.tokens.length) continue; // more prefill chunks to go
      // The step produced logits for the last token: sample one more.
      const index = seq.generated;
      const tok = seq.req.outputToken(index);
      seq.tokens.push(tok);
      seq.generated++;
      if (seq.tokens.length % bs === 0) {
        const opts = this.hashOptions(seq.req);
        const [digest] = blockDigests(seq.tokens.slice(-bs), bs, opts, seq.lastDigest, seq.hashes.length);
        seq.hashes.push(digestKey(digest!));
        seq.lastDigest = digest;
      }
      if (seq.firstTokenAt === null) {
        seq.firstTokenAt = now;
        this.observer.onFirstToken?.(now - seq.arrival, seq.numPrompt);
      } else {
        this.observer.onInterToken?.(now - seq.lastTokenAt);
      }
      seq.lastTokenAt = now;
      seq.req.onToken(index, now);
      if (seq.generated >= seq.req.maxTokens) {
        this.finish(seq, seq.req.finishReason, now);
        anyFinished = true;
      }
    }
    if (anyFinished) this.running = this.running.filter((s) => !s.finished);
    this.landOffloads(landed);
  }

  /** Records an admission's tier lookup: blocks it loaded are in the tier; a GPU hit's are offered to it again. */
  private noteTierLookup(seq: Seq, hitBlocks: number, loaded: number): void {
    if (!this.sharedTier) return;
    this.sharedTier.markLoaded(seq.hashes, hitBlocks, loaded);
    seq.numOffloaded = loaded > 0 ? hitBlocks + loaded : 0;
  }

  /**
   * Sends the shared tier every block of `seq` computed so far that it was not sent yet, as vLLM's offloading
   * connector stores each block once computed (not when GPU KV evicts it). The store is submitted at the start of the
   * next step and runs beside it, so the blocks become loadable when that step ends (`landOffloads`).
   */
  private offloadFullBlocks(seq: Seq): void {
    if (!this.sharedTier) return;
    const full = Math.min(Math.floor(seq.numComputed / this.config.blockSize), seq.hashes.length);
    for (let i = seq.numOffloaded; i < full; i++) this.offloading.push(seq.hashes[i]!);
    seq.numOffloaded = Math.max(seq.numOffloaded, full);
  }

  /** The stores the previous step submitted are done; an engine with nothing left to run finishes its own too. */
  private landOffloads(landed: bigint[]): void {
    if (landed.length > 0) this.sharedTier?.put(landed);
    if (!this.hasWork() && this.offloading.length > 0) {
      this.sharedTier?.put(this.offloading);
      this.offloading = [];
    }
  }

  drainKvEvents(): KvEvent[] {
    return this.pool.drainEvents();
  }

  /** Clears the prefix cache when no request holds blocks (vLLM's /reset_prefix_cache). */
  resetPrefixCache(): boolean {
    return this.pool.resetPrefixCache();
  }

  private blocksNeeded(seq: Seq, newTokens: number): number {
    return Math.max(0, Math.ceil((seq.numComputed + newTokens) / this.config.blockSize) - seq.blocks.length);
  }

  private storeFullBlocks(seq: Seq): void {
    const full = Math.min(Math.floor(seq.numComputed / this.config.blockSize), seq.hashes.length);
    if (full <= seq.numStored) return;
    const bs = this.config.blockSize;
    const stored: bigint[] = [];
    const tokenIds: number[] = [];
    const first = seq.numStored;
    for (let i = seq.numStored; i < full; i++) {
      const h = seq.hashes[i] as bigint;
      if (this.pool.store(seq.blocks[i] as number, h)) {
        stored.push(h);
        for (let t = i * bs; t < (i + 1) * bs; t++) tokenIds.push(seq.tokens[t] as number);
      }
    }
    seq.numStored = full;
    if (stored.length > 0) {
      this.pool.emitStored({
        type: "BlockStored",
        blockHashes: stored,
        parentBlockHash: first === 0 ? null : (seq.hashes[first - 1] as bigint),
        tokenIds,
        blockSize: bs,
        loraId: seq.req.lora?.id ?? null,
        loraName: seq.req.lora?.name ?? null,
      });
    }
  }

  private preempt(seq: Seq): void {
    this.running.pop();
    this.pool.release(seq.blocks);
    seq.blocks = [];
    seq.numComputed = 0;
    seq.numStored = 0;
    this.waiting.unshift(seq);
    this.preemptions++;
    this.observer.onPreempted?.();
  }

  private makeLoraSlot(): boolean {
    if (this.gpuLoras.size < this.config.maxLoras) return true;
    const inUse = new Set(this.running.flatMap((s) => (s.req.lora ? [s.req.lora.name] : [])));
    for (const name of this.gpuLoras.keys()) {
      if (!inUse.has(name)) {
        this.gpuLoras.delete(name);
        return true;
      }
    }
    return false;
  }

  private finish(seq: Seq, reason: FinishReason, now: number): void {
    seq.finished = true;
    this.pool.release(seq.blocks);
    seq.blocks = [];
    this.byId.delete(seq.req.id);
    this.observer.onFinished?.(reason, now - seq.arrival, seq.numPrompt, seq.generated);
    seq.req.onFinish(reason, now);
  }
}
