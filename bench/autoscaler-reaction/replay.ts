// A queueing replay of the autoscaler-reaction trace, in-process and in trace time. The controllers' own pure tick
// (`decideTick`, KPA or APA) and the HPA-style baseline decide, as in the live run, on engines modelled as
// ENGINE.maxNumSeqs slots and a FIFO queue each, SERVICE_S a request, STARTUP_S from creation to Ready, behind a
// least-request router. A round takes about a second against six minutes live, so a change to a strategy can be
// tried over many seeds before the live benchmark judges it. It models no router, kubelet or API latency and no
// slowdown from batching: its figures guide, they are never a result.
//   npx tsx bench/autoscaler-reaction/replay.ts [seeds]
import { pathToFileURL } from "node:url";
import { DEFAULT_TUNING } from "../../controllers/pod-autoscaler/annotations.js";
import {
  decideTick,
  freshMemory,
  type AutoscalerMemory,
  type PodAutoscaler,
} from "../../controllers/pod-autoscaler/decide.js";
import type { PodStanding } from "../../controllers/pod-autoscaler/pods.js";
import type { SourceReading } from "../../controllers/pod-autoscaler/sources/types.js";
import { median } from "../lib/stats.js";
import type { ArmName } from "./arm.js";
import {
  headlineFigures,
  minutesMet,
  type ClusterSample,
  type HeadlineFigures,
  type RequestRecord,
} from "./measure.js";
import { TTFT_P90_BOUND_S } from "./readme.js";
import { hpaBaseline, podAutoscaler } from "./strategies.js";
import {
  arrivals,
  AUTOSCALERS_AT_S,
  BOUNDS,
  ENGINE,
  INITIAL_REPLICAS,
  METRICS,
  PRELUDE_S,
  PRODUCT_DEFAULTS,
  SERVICE_S,
  STARTUP_S,
  TRACE_S,
} from "./trace.js";

/** The replay's clock step, in trace seconds. */
const STEP_S = 0.05;
/** Time to the first token once a request holds a slot: one engine step of the SERVICE_S a request takes. */
const FIRST_TOKEN_S = SERVICE_S / (ENGINE.maxTokens + 1);
const SAMPLE_S = 5;

interface Job {
  at: number;
  startedAt?: number;
  endsAt?: number;
}

interface EnginePod {
  name: string;
  createdAt: number;
  readyAt: number;
  deleted: boolean;
  running: Job[];
  waiting: Job[];
}

/** A Deployment of modelled engines and the least-request router in front of its Ready ones. */
class Fleet {
  readonly pods: EnginePod[] = [];
  private readonly unrouted: Job[] = [];
  private created = 0;
  replicas = 0;

  constructor(initial: number, at: number) {
    for (let i = 0; i < initial; i++) this.create(at, true);
    this.replicas = initial;
  }

  live(): EnginePod[] {
    return this.pods.filter((p) => !p.deleted);
  }

  ready(t: number): EnginePod[] {
    return this.live().filter((p) => p.readyAt <= t);
  }

  private create(t: number, ready: boolean): void {
    const name = `engine-${this.created++}`;
    this.pods.push({
      name,
      createdAt: t,
      readyAt: ready ? t : t + STARTUP_S,
      deleted: false,
      running: [],
      waiting: [],
    });
  }

  /** As a ReplicaSet picks victims: pods not Ready first, then the most recently Ready. Their queues go back. */
  scaleTo(n: number, t: number): void {
    const live = this.live();
    for (let k = live.length; k < n; k++) this.create(t, false);
    const victims = [...live]
      .sort((a, b) => Number(a.readyAt <= t) - Number(b.readyAt <= t) || b.readyAt - a.readyAt)
      .slice(0, Math.max(0, live.length - n));
    for (const p of victims) {
      p.deleted = true;
      this.unrouted.push(...p.waiting);
      p.waiting = [];
    }
    this.replicas = n;
  }

  arrive(job: Job): void {
    this.unrouted.push(job);
  }

  /** Routes what waits for a Ready engine, then lets each engine finish and start work up to its slots. */
  advance(t: number): void {
    const ready = this.ready(t);
    while (this.unrouted.length > 0 && ready.length > 0) {
      const load = (p: EnginePod) => p.running.length + p.waiting.length;
      ready.reduce((best, p) => (load(p) < load(best) ? p : best)).waiting.push(this.unrouted.shift()!);
    }
    for (const p of this.pods) {
      p.running = p.running.filter((j) => j.endsAt! > t);
      while (!p.deleted && p.running.length < ENGINE.maxNumSeqs && p.waiting.length > 0) {
        const job = p.waiting.shift()!;
        job.startedAt = t;
        job.endsAt = t + SERVICE_S;
        p.running.push(job);
      }
    }
  }
}

type Autoscaler = (t: number, fleet: Fleet) => number;

/** An engine's value of one of METRICS: its running or its waiting requests. */
const metricOf = (name: string) => (p: EnginePod) =>
  name === "vllm:num_requests_running" ? p.running.length : p.waiting.length;

function productAutoscaler(strategy: "KPA" | "APA"): Autoscaler {
  const pa = podAutoscaler(strategy, "engine", 1) as unknown as PodAutoscaler;
  pa.metadata = { ...pa.metadata, uid: "replay", generation: 1 };
  let memory: AutoscalerMemory = freshMemory(pa);
  const warmUpS = PRODUCT_DEFAULTS.paWarmUpS;
  return (t, fleet) => {
    const live = fleet.live();
    const pods: PodStanding[] = live.map((p) => ({
      pod: { metadata: { name: p.name } },
      name: p.name,
      ready: p.readyAt <= t,
      terminating: false,
      warmingUp: p.readyAt <= t && p.createdAt !== p.readyAt && t - p.readyAt < warmUpS,
      startingUp: p.readyAt > t,
    }));
    const counted = live.filter((p, i) => pods[i]!.ready && !pods[i]!.warmingUp);
    const readings: SourceReading[] = METRICS.map((m) => ({
      kind: "pods",
      values: new Map(counted.map((p) => [p.name, metricOf(m.name)(p)])),
    }));
    const d = decideTick({
      pa,
      tuning: { ...DEFAULT_TUNING },
      nowMs: t * 1000,
      replicas: fleet.replicas,
      pods,
      readings,
      memory,
    });
    memory = d.memory;
    return d.desired;
  };
}

function hpaStyle(): Autoscaler {
  const decide = hpaBaseline({ bounds: BOUNDS });
  return (t, fleet) =>
    decide({
      nowMs: t * 1000,
      replicas: fleet.replicas,
      pods: fleet.live().length,
      metrics: METRICS.map((m) => ({ target: m.targetPerPod, values: fleet.ready(t).map(metricOf(m.name)) })),
    });
}

export interface ReplayFigures extends HeadlineFigures {
  missedMinutes: number[];
  /** Replicas asked for, every SAMPLE_S trace seconds from the start of the prelude. */
  samples: ClusterSample[];
}

function autoscalerFor(arm: ArmName | { fixed: number }): Autoscaler {
  if (typeof arm === "object") return () => arm.fixed;
  return arm === "hpa" ? hpaStyle() : productAutoscaler(arm === "kpa" ? "KPA" : "APA");
}

/**
 * One arm over one seeded trace, prelude included; figures over trace seconds 0..TRACE_S as the live run takes them.
 * `{ fixed: n }` holds n pods throughout, no autoscaler: the model's own check.
 */
export function replayRound(arm: ArmName | { fixed: number }, seed: number): ReplayFigures {
  const fleet = new Fleet(typeof arm === "object" ? arm.fixed : INITIAL_REPLICAS, -PRELUDE_S);
  const autoscaler = autoscalerFor(arm);
  const periodS = arm === "hpa" ? PRODUCT_DEFAULTS.hpaSyncS : PRODUCT_DEFAULTS.paSyncS;
  const times = arrivals(seed);
  const jobs: Job[] = [];
  const samples: ClusterSample[] = [];
  let next = 0;
  let nextDecision = AUTOSCALERS_AT_S;
  let nextSample = -PRELUDE_S;
  // Integer steps, so the clock does not drift from the decision and sample times.
  for (let step = 0; ; step++) {
    const t = -PRELUDE_S + step * STEP_S;
    if (t > TRACE_S + 60) break;
    while (next < times.length && times[next]! <= t) {
      const job = { at: times[next++]! };
      jobs.push(job);
      fleet.arrive(job);
    }
    fleet.advance(t);
    if (t >= nextDecision - 1e-9) {
      nextDecision += periodS;
      const want = autoscaler(t, fleet);
      if (want !== fleet.replicas) fleet.scaleTo(want, t);
    }
    if (t >= nextSample - 1e-9) {
      nextSample += SAMPLE_S;
      const live = fleet.live();
      samples.push({ second: t, replicas: fleet.replicas, pods: live.length, ready: fleet.ready(t).length });
    }
  }
  const records: RequestRecord[] = jobs
    .filter((j) => j.at >= 0 && j.at < TRACE_S)
    .map((j) => ({ at: j.at, ttftS: j.startedAt === undefined ? Infinity : j.startedAt - j.at + FIRST_TOKEN_S }));
  return {
    ...headlineFigures(samples, records, TRACE_S, TTFT_P90_BOUND_S),
    missedMinutes: minutesMet(records, TTFT_P90_BOUND_S)
      .filter((m) => !m.met)
      .map((m) => m.minute),
    samples,
  };
}

function main(seedCount: number): void {
  const seeds = Array.from({ length: seedCount }, (_, i) => 1000 + i);
  for (const arm of ["kpa", "apa", "hpa"] as const) {
    const rounds = seeds.map((s) => replayRound(arm, s));
    const at = (k: keyof HeadlineFigures) => median(rounds.map((r) => r[k]));
    console.log(
      `${arm}: SLO attainment ${at("sloAttainment").toFixed(3)}, GPU-seconds ${at("gpuSeconds")}, ` +
        `direction changes ${at("oscillations")} (medians of ${seeds.length} seeds); ` +
        `minutes missed per seed: ${rounds.map((r) => `[${r.missedMinutes.join(",")}]`).join(" ")}`,
    );
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) main(Number(process.argv[2] ?? 12));
