// Rounds of one benchmark, run one after another, each announced and bracketed by the machine's load.
import { loadAverage1m, type BenchContext } from "./result.js";

export interface Round<T> {
  /** 1-based. */
  round: number;
  /** The one-minute load average before and after the round: a busy machine shows beside the figures it spoiled. */
  load1m: [number, number];
  figures: T;
}

/** Runs `measure` `count` times in sequence (never overlapping: rounds must not share the CPUs). */
export async function runRounds<T>(
  ctx: BenchContext,
  count: number,
  measure: (round: number) => Promise<T>,
): Promise<Round<T>[]> {
  const rounds: Round<T>[] = [];
  for (let r = 1; r <= count; r++) {
    ctx.progress(`round ${r} of ${count}`);
    const loadBefore = loadAverage1m();
    const figures = await measure(r);
    rounds.push({ round: r, load1m: [loadBefore, loadAverage1m()], figures });
  }
  return rounds;
}
