// A fluid model of an engine fleet for the autoscaler-reaction benchmark: seeded Poisson arrivals, each Ready
// replica serving `mu` requests per second, a backlog that waits, replicas that take `startupS` seconds to turn
// Ready after a scale-up (image pull, weight loading). One step is one simulated second.
import { seededRandom } from "../../test/support/seeded-random.js";

export interface FleetModel {
  /** Requests per second one Ready replica completes. */
  mu: number;
  /** Seconds one request takes once running (in-flight = completed per second × this + backlog). */
  serviceS: number;
  /** TTFT of a request that does not wait. */
  baseTtftS: number;
  startupS: number;
}

export const FLEET: FleetModel = { mu: 2, serviceS: 1, baseTtftS: 0.15, startupS: 90 };

/** Requests per second at second t: steady → 4× step → back down → a bursty phase. */
export function traceRate(t: number, random: () => number): number {
  if (t < 300) return 4;
  if (t < 600) return 16;
  if (t < 1020) return 4;
  const burst = Math.floor((t - 1020) / 20) % 2 === 0 ? 14 : 2;
  return Math.max(0, burst + (random() - 0.5) * 4);
}

export const TRACE_S = 1320;
export const STEP = { startS: 300, endS: 600, rate: 16 };

export function poisson(lambda: number, random: () => number): number {
  // Knuth's method; rates here stay below ~20 per step.
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

export interface Fleet {
  /** Second each replica was created (Ready `startupS` later). */
  created: number[];
  backlog: number;
}

export interface StepResult {
  arrivals: number;
  ready: number;
  inFlightPerPod: number;
  ttftS: number;
}

export function readyCount(fleet: Fleet, t: number, model: FleetModel): number {
  return fleet.created.filter((c) => t - c >= model.startupS).length;
}

/** One simulated second. */
export function step(fleet: Fleet, t: number, rate: number, random: () => number, model = FLEET): StepResult {
  const arrivals = poisson(rate, random);
  const ready = readyCount(fleet, t, model);
  const capacity = ready * model.mu;
  const served = Math.min(fleet.backlog + arrivals, capacity);
  fleet.backlog += arrivals - served;
  const ttftS = capacity > 0 ? model.baseTtftS + fleet.backlog / capacity : 60;
  const inFlight = served * model.serviceS + fleet.backlog;
  return { arrivals, ready, inFlightPerPod: ready > 0 ? inFlight / ready : 0, ttftS: Math.min(60, ttftS) };
}

/** Scales to `replicas`: new replicas start now; a scale-down removes the youngest (not-yet-Ready first). */
export function resize(fleet: Fleet, replicas: number, t: number): void {
  fleet.created.sort((a, b) => a - b);
  while (fleet.created.length < replicas) fleet.created.push(t);
  fleet.created.length = Math.max(0, replicas);
}

export { seededRandom };
