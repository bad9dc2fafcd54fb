// Drives an Engine in (scaled) real time with a single timer.
//
// Simulated time runs `speedup` times faster than the wall clock. Each step ends at an absolute simulated time and
// the timer aims at the matching wall time, so timer lateness never accumulates: when a step's end is already due,
// the next steps run back to back (within a small slice, then yield to I/O). Every time the simulator reports
// (metrics, usage) is simulated time, i.e. already converted back to the modelled GPU's seconds.
import { performance } from "node:perf_hooks";
import type { Engine, Step } from "./engine.js";

/** Longest stretch of back-to-back due steps before yielding to I/O, in wall milliseconds. */
const SLICE_MS = 4;

export class EngineLoop {
  private readonly engine: Engine;
  readonly speedup: number;
  private readonly wallStart = performance.now();
  /** Simulated seconds at the end of the last committed step (the engine's clock while busy). */
  private simTime = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private pending: { step: Step; start: number; end: number } | null = null;
  private stopped = false;
  /** Earliest arrival since the loop went idle. */
  private wakeAt = Infinity;
  /** Multiplies step durations (fault injection: a slower GPU). */
  slowdown = 1;
  /** While true, no step starts (fault injection: a hung engine). */
  paused = false;
  /** Called after each committed step (KV event batch). */
  afterStep: (() => void) | null = null;
  /**
   * Called once the loop yields after committing one or more steps: the server writes each stream's pending chunks
   * here. When the loop keeps up that is once per step (exact inter-token gaps); when it falls behind, the tokens of
   * the steps it catches up on go out in one write per stream instead of one per token, so load degrades gracefully.
   */
  afterSlice: (() => void) | null = null;

  constructor(engine: Engine, speedup: number) {
    if (!(speedup > 0)) throw new RangeError(`speedup: ${speedup} must be a positive number`);
    this.engine = engine;
    this.speedup = speedup;
  }

  /** Simulated seconds since start by the wall clock. */
  wallSim(): number {
    return ((performance.now() - this.wallStart) / 1000) * this.speedup;
  }

  /** Current simulated time for stamping arrivals. */
  now(): number {
    return Math.max(this.simTime, this.wallSim());
  }

  /**
   * Wakes the idle loop after new work arrived at simulated time `at` (no-op while a step is in flight). The engine
   * starts stepping at the arrival's simulated time, not whenever the host gets round to it: host CPU time and
   * scheduling jitter, multiplied by the speedup, must not show up as simulated GPU time.
   */
  kick(at = this.now()): void {
    if (this.stopped || this.paused) return;
    if (this.pending) {
      // A step with no work is the engine waiting on shared-tier loads; vLLM's engine keeps stepping meanwhile, so
      // new work is scheduled at once rather than when the loads are done.
      if (this.pending.step.work.length > 0) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.pending = null;
    }
    this.wakeAt = Math.min(this.wakeAt, at);
    if (this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = null;
      this.simTime = Math.max(this.simTime, this.wakeAt);
      this.wakeAt = Infinity;
      this.run();
    });
  }

  setPaused(paused: boolean): void {
    const wasPaused = this.paused;
    this.paused = paused;
    if (paused || !wasPaused) return;
    if (this.pending) {
      // The step in flight stalled with the engine: it resumes now and takes its full duration from here, and the
      // stall shows up in the latencies of the requests it holds.
      if (this.timer) clearTimeout(this.timer);
      const duration = this.pending.end - this.pending.start;
      this.simTime = Math.max(this.simTime, this.wallSim());
      this.pending = { ...this.pending, start: this.simTime, end: this.simTime + duration };
      this.timer = setTimeout(() => {
        this.timer = null;
        this.run();
      }, 0);
    } else this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  private run(): void {
    const sliceEnd = performance.now() + SLICE_MS;
    let committed = false;
    const yieldNow = () => {
      if (committed) this.afterSlice?.();
    };
    for (;;) {
      if (this.stopped || this.paused) return yieldNow();
      if (!this.pending) {
        const step = this.engine.plan(this.simTime);
        if (!step) {
          // Nothing can run before the next arrival: jump the clock to it (the engine idles until then).
          const next = this.engine.nextArrival();
          if (next !== undefined && next > this.simTime && this.engine.numRunning === 0) {
            this.simTime = next;
            continue;
          }
          return yieldNow(); // idle until kick()
        }
        this.pending = { step, start: this.simTime, end: this.simTime + step.duration * this.slowdown };
      }
      const wallDue = this.wallStart + (this.pending.end / this.speedup) * 1000;
      const wait = wallDue - performance.now();
      if (wait > 1 || performance.now() > sliceEnd) {
        this.timer = setTimeout(
          () => {
            this.timer = null;
            this.run();
          },
          Math.max(0, wait),
        );
        return yieldNow();
      }
      const { step, end } = this.pending;
      this.pending = null;
      this.simTime = end;
      this.engine.commit(step, end);
      committed = true;
      this.afterStep?.();
    }
  }
}
