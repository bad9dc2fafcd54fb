// The placement policy: which nodes can take a model pod (filter) and which are best (prioritize). Pure functions over
// the cluster state, the GPU profiles and the optimizer's recommended mix; the HTTP layer only parses and encodes.
import type { ProfileFacts, ProfileSet } from "../api/gpu-profile.js";
import type { RecommendationSet } from "../api/gpu-recommendation.js";
import { Diagnostics } from "../api/labels.js";
import type { NodeRecord } from "./node.js";
import type { ClusterState } from "./state.js";
import {
  MAX_EXTENDER_PRIORITY,
  type ExtenderFilterResult,
  type HostPriority,
  type MetaVictims,
  type NodeObject,
} from "./wire.js";

export interface PlacementWeights {
  /** Cheaper cost per token for this model on the node's GPU type scores higher. */
  cost: number;
  /** GPU types the optimizer's recommended mix is short of, for this pod's deployment, score higher. */
  deficit: number;
  /** Nodes already partly used score higher, keeping whole nodes free for large tensor-parallel pods. */
  packing: number;
}

export interface PolicyOptions {
  gpuResource: string;
  /** Label consulted before `nvidia.com/gpu.product` (named in reasons). */
  gpuTypeLabel?: string | undefined;
  /** A diagnostics report older than this excludes the node. */
  staleAfterMs: number;
  /** Exclude nodes that carry no diagnostics report at all (default: let them through). */
  requireDiagnostics: boolean;
  /** Reject model pods whose model has no profiles (default: any GPU type, cost term off). */
  requireProfile: boolean;
  weights: PlacementWeights;
}

export const DEFAULT_WEIGHTS: PlacementWeights = { cost: 1, deficit: 1, packing: 1 };

/** Short codes for `/metrics` (filtered-out reasons); the text sent to kube-scheduler says more. */
export type ReasonCode =
  | "unknown_node"
  | "no_gpus"
  | "unhealthy"
  | "stale_diagnostics"
  | "no_diagnostics"
  | "no_gpu_type"
  | "no_profile"
  | "slo_infeasible"
  | "memory_fit"
  | "insufficient_healthy_gpus"
  | "insufficient_free_gpus";

export interface PolicyContext {
  state: ClusterState;
  profiles: ProfileSet;
  recommendations: RecommendationSet;
  options: PolicyOptions;
  /** ms since epoch, fixed for one request. */
  now: number;
}

/** What the policy needs from the pod being placed. */
export interface PlacementRequest {
  model: string;
  gpus: number;
  deploymentKey: string | undefined;
}

interface TypeVerdict {
  code: ReasonCode | undefined;
  reason: string;
  gpuType: string | undefined;
  facts: ProfileFacts | undefined;
}

/** Judges each distinct GPU type once per request (a fleet has a handful of types, a request thousands of nodes). */
class TypeJudge {
  private readonly cache = new Map<string, TypeVerdict>();
  private readonly byId: (TypeVerdict | undefined)[] = [];

  constructor(
    private readonly ctx: PolicyContext,
    private readonly req: PlacementRequest,
  ) {}

  /** The verdict for a node's GPU label, through the state's label number when it has one. */
  of(rec: NodeRecord): TypeVerdict {
    const id = rec.labelId;
    if (id < 0) return this.verdict(rec.gpuLabel);
    let v = this.byId[id];
    if (!v) this.byId[id] = v = this.verdict(rec.gpuLabel);
    return v;
  }

  verdict(label: string | undefined): TypeVerdict {
    const key = label ?? "";
    let v = this.cache.get(key);
    if (!v) this.cache.set(key, (v = this.judge(label)));
    return v;
  }

  private judge(label: string | undefined): TypeVerdict {
    const { profiles, options } = this.ctx;
    const { model, gpus } = this.req;
    const ok = (gpuType: string | undefined, facts?: ProfileFacts): TypeVerdict => ({
      code: undefined,
      reason: "",
      gpuType,
      facts,
    });
    const fail = (code: ReasonCode, reason: string, gpuType?: string): TypeVerdict => ({
      code,
      reason,
      gpuType,
      facts: undefined,
    });
    const profiled = profiles.hasModel(model);
    if (!profiled) {
      if (options.requireProfile) {
        return fail("no_profile", `no GPU profiles for model ${model}: add models.${model} to the profile document`);
      }
      return ok(label === undefined ? undefined : profiles.gpuType(label));
    }
    if (label === undefined) {
      const labels = options.gpuTypeLabel
        ? `${options.gpuTypeLabel} or nvidia.com/gpu.product`
        : "nvidia.com/gpu.product";
      return fail("no_gpu_type", `node has no GPU type label (${labels}), so model ${model}'s SLO cannot be checked`);
    }
    const gpuType = profiles.gpuType(label);
    const facts = profiles.profile(model, gpuType);
    if (!facts) {
      return fail(
        "no_profile",
        `no profile for model ${model} on GPU type ${gpuType}: profile it, or the model stays off this type`,
        gpuType,
      );
    }
    if (facts.maxThroughput <= 0) {
      return fail("slo_infeasible", `GPU type ${gpuType} cannot serve model ${model} within its SLO`, gpuType);
    }
    const need = profiles.modelMemoryGiB(model);
    if (need !== undefined) {
      const per = profiles.gpuMemoryGiB(gpuType);
      if (per === undefined) {
        return fail(
          "memory_fit",
          `model ${model} needs ${need} GiB of GPU memory but GPU type ${gpuType} has no memoryGiB in the profile document`,
          gpuType,
        );
      }
      if (per * gpus < need) {
        return fail(
          "memory_fit",
          `model ${model} needs ${need} GiB of GPU memory; ${gpus} x ${gpuType} (${per} GiB each) give ${per * gpus} GiB`,
          gpuType,
        );
      }
    }
    return ok(gpuType, facts);
  }
}

function staleDescription(rec: NodeRecord, staleAfterMs: number): string {
  if (Number.isNaN(rec.lastReportMs)) {
    return `diagnostics report time (${Diagnostics.lastReport}) is missing or unreadable; node excluded until a fresh report`;
  }
  return (
    `diagnostics last reported at ${new Date(rec.lastReportMs).toISOString()}, older than the ` +
    `${Math.round(staleAfterMs / 1000)}s staleness bound; node excluded until a fresh report`
  );
}

/** Reasons that preemption could resolve (free GPUs can be freed); every other reason is unresolvable. */
const RESOLVABLE: ReadonlySet<ReasonCode> = new Set(["insufficient_free_gpus", "unknown_node"]);

const NOT_CACHED = "node is not in the extender's cache yet (informer still syncing); retry shortly";

/**
 * Judges nodes for one request. Reason texts repeat across thousands of nodes (same type, same free count), so they
 * are built and JSON-escaped once per distinct value.
 */
class NodeJudge {
  readonly types: TypeJudge;
  /** Set by `judge` when it returns a code. */
  reason = "";
  private readonly tooFewFree: string;
  private readonly escaped = new Map<string, string>();

  constructor(
    private readonly ctx: PolicyContext,
    private readonly req: PlacementRequest,
  ) {
    this.types = new TypeJudge(ctx, req);
    this.tooFewFree = `fewer than ${req.gpus} free healthy GPUs`;
  }

  /** Why the node cannot take the pod, or undefined when it can. */
  judge(rec: NodeRecord): ReasonCode | undefined {
    const o = this.ctx.options;
    const gpus = this.req.gpus;
    if (rec.capacity === 0) {
      this.reason = `node has no allocatable ${o.gpuResource}`;
      return "no_gpus";
    }
    if (rec.health === "unhealthy") {
      this.reason = `diagnostics mark the node unhealthy: ${rec.healthReason}`;
      return "unhealthy";
    }
    if (rec.health === "unreported") {
      if (o.requireDiagnostics) {
        this.reason = `node has no diagnostics report (${Diagnostics.nodeHealth} absent) and reports are required`;
        return "no_diagnostics";
      }
    } else if (!(this.ctx.now - rec.lastReportMs <= o.staleAfterMs)) {
      this.reason = staleDescription(rec, o.staleAfterMs);
      return "stale_diagnostics";
    }
    const v = this.types.of(rec);
    if (v.code) {
      this.reason = v.reason;
      return v.code;
    }
    if (rec.healthyCapacity < gpus) {
      const failing = rec.failingList.length > 0 ? ` (failing devices: ${rec.failingList.join(",")})` : "";
      this.reason = `pod needs ${gpus} GPUs; node has ${rec.healthyCapacity} healthy of ${rec.capacity}${failing}`;
      return "insufficient_healthy_gpus";
    }
    if (rec.healthyFree < gpus) {
      // One text for every such node: kube-scheduler counts nodes per distinct reason in the pod's event.
      this.reason = this.tooFewFree;
      return "insufficient_free_gpus";
    }
    return undefined;
  }

  /** `reason` as the value part of a JSON object entry: `:` and the reason as a string literal. */
  reasonEntryValue(): string {
    let e = this.escaped.get(this.reason);
    if (e === undefined) this.escaped.set(this.reason, (e = ":" + JSON.stringify(this.reason)));
    return e;
  }
}

function tally(reasons: Map<ReasonCode, number>, code: ReasonCode): void {
  reasons.set(code, (reasons.get(code) ?? 0) + 1);
}

export interface FilterOutcome {
  result: ExtenderFilterResult;
  /** Failed nodes per reason, for metrics. */
  reasons: Map<ReasonCode, number>;
}

/** Filter over names only (nodeCacheCapable): node facts come from the state. */
export function filterNames(ctx: PolicyContext, req: PlacementRequest, names: readonly string[]): FilterOutcome {
  const judge = new NodeJudge(ctx, req);
  const passed: string[] = [];
  const failed: Record<string, string> = {};
  const unresolvable: Record<string, string> = {};
  const reasons = new Map<ReasonCode, number>();
  for (const name of names) {
    const rec = ctx.state.node(name);
    if (!rec) {
      failed[name] = NOT_CACHED;
      tally(reasons, "unknown_node");
      continue;
    }
    const code = judge.judge(rec);
    if (!code) {
      passed.push(name);
      continue;
    }
    (RESOLVABLE.has(code) ? failed : unresolvable)[name] = judge.reason;
    tally(reasons, code);
  }
  return {
    result: {
      Nodes: null,
      NodeNames: passed,
      FailedNodes: failed,
      FailedAndUnresolvableNodes: unresolvable,
      Error: "",
    },
    reasons,
  };
}

export interface FilterNamesAnswer {
  /** The encoded ExtenderFilterResult. */
  json: string;
  passed: number;
  /** The NodeNames array's contents as encoded (what kube-scheduler will send prioritize). */
  passedList: string;
  /** Positions in the request of the nodes that passed. */
  passedAt: number[];
  reasons: Map<ReasonCode, number>;
}

/**
 * The same filter, answering with the encoded ExtenderFilterResult: at fleet scale building and then serialising
 * thousands of map entries costs more than the decisions themselves. `records[i]` is the state's record for
 * `names[i]` (undefined = not cached), resolved by the caller.
 */
export function filterNamesJson(
  ctx: PolicyContext,
  req: PlacementRequest,
  names: readonly string[],
  records: readonly (NodeRecord | undefined)[],
): FilterNamesAnswer {
  const judge = new NodeJudge(ctx, req);
  // Entries are collected as pieces that already exist (pre-escaped names, each distinct reason escaped once) and
  // joined once: a string per entry, or one grown by `+=`, costs more to build and flatten than the decisions.
  const passed: string[] = [];
  const passedAt: number[] = [];
  /** Map entries' pieces: name, `:reason`, then `,` name `:reason` for each further entry. */
  const failed: string[] = [];
  const unresolvable: string[] = [];
  const reasons = new Map<ReasonCode, number>();
  const notCached = ":" + JSON.stringify(NOT_CACHED);
  for (let i = 0; i < names.length; i++) {
    const rec = records[i];
    if (!rec) {
      if (failed.length > 0) failed.push(",");
      failed.push(JSON.stringify(names[i]), notCached);
      tally(reasons, "unknown_node");
      continue;
    }
    const code = judge.judge(rec);
    if (!code) {
      passed.push(rec.jsonName);
      passedAt.push(i);
      continue;
    }
    const entries = RESOLVABLE.has(code) ? failed : unresolvable;
    if (entries.length > 0) entries.push(",");
    entries.push(rec.jsonName, judge.reasonEntryValue());
    tally(reasons, code);
  }
  const passedList = passed.join(",");
  const json =
    `{"Nodes":null,"NodeNames":[${passedList}],"FailedNodes":{${failed.join("")}},` +
    `"FailedAndUnresolvableNodes":{${unresolvable.join("")}},"Error":""}`;
  return { json, passed: passed.length, passedList, passedAt, reasons };
}

/** Filter over full Node objects: node facts come from the objects, GPU claims from the state. */
export function filterNodes(ctx: PolicyContext, req: PlacementRequest, nodes: readonly NodeObject[]): FilterOutcome {
  const judge = new NodeJudge(ctx, req);
  const passed: NodeObject[] = [];
  const failed: Record<string, string> = {};
  const unresolvable: Record<string, string> = {};
  const reasons = new Map<ReasonCode, number>();
  for (const node of nodes) {
    const rec = ctx.state.recordFor(node);
    const code = judge.judge(rec);
    if (!code) {
      passed.push(node);
      continue;
    }
    (RESOLVABLE.has(code) ? failed : unresolvable)[rec.name] = judge.reason;
    tally(reasons, code);
  }
  return {
    result: {
      Nodes: { metadata: {}, items: passed },
      NodeNames: null,
      FailedNodes: failed,
      FailedAndUnresolvableNodes: unresolvable,
      Error: "",
    },
    reasons,
  };
}

/** The three score terms for one node, each in [0, 1] (undefined = term does not apply to this pod). */
export interface ScoreTerms {
  cost: number | undefined;
  deficit: number | undefined;
  packing: number;
}

/** The part of a node's score its GPU type decides, weighted as the mean takes it, worked out once per type. */
interface TypeScore {
  cost: number | undefined;
  deficit: number | undefined;
  /** `w.cost * cost`, `w.deficit * deficit`: the addends, so every node's sum is formed in the same order. */
  weightedCost: number;
  weightedDeficit: number;
  /** Sum of the weights of the terms that apply. */
  weight: number;
}

/**
 * Scores nodes 0..10 into `scores` (and, given `terms`, each node's terms; tests). Terms: cost (cheapest $/token
 * among the candidates' GPU types = 1, others min/their cost), deficit (the type the deployment's recommended mix is
 * most short of = 1, proportional below, 0 when not short), packing (fraction of the node's healthy GPUs in use once
 * this pod lands). A term that does not apply to this pod (no profile, no recommendation) drops out of the weighted
 * mean rather than dragging every score down. Unknown or unplaceable nodes score 0. Cost and deficit depend only on
 * the node's GPU type, so they are worked out once per type; per node only packing is.
 */
function scoreInto(
  ctx: PolicyContext,
  req: PlacementRequest,
  records: readonly (NodeRecord | undefined)[],
  scores: number[],
  terms?: (ScoreTerms | undefined)[],
): void {
  const types = new TypeJudge(ctx, req);
  let minCost = Infinity;
  for (const rec of records) {
    const f = rec ? types.of(rec).facts : undefined;
    if (f && f.costPerMillionTokens < minCost) minCost = f.costPerMillionTokens;
  }
  const deficits = deficitByType(ctx, req);
  let maxDeficit = 0;
  if (deficits) for (const d of deficits.values()) maxDeficit = Math.max(maxDeficit, d);
  const w = ctx.options.weights;
  const byType = new Map<TypeVerdict, TypeScore>();
  const typeScore = (v: TypeVerdict): TypeScore => {
    let weight = w.packing;
    let cost: number | undefined;
    if (v.facts && Number.isFinite(minCost) && Number.isFinite(v.facts.costPerMillionTokens)) {
      cost = minCost / v.facts.costPerMillionTokens;
      weight += w.cost;
    }
    let deficit: number | undefined;
    if (deficits) {
      const d = v.gpuType !== undefined ? (deficits.get(v.gpuType) ?? 0) : 0;
      deficit = maxDeficit > 0 && d > 0 ? d / maxDeficit : 0;
      weight += w.deficit;
    }
    const weightedCost = cost === undefined ? 0 : w.cost * cost;
    const weightedDeficit = deficit === undefined ? 0 : w.deficit * deficit;
    return { cost, deficit, weightedCost, weightedDeficit, weight };
  };
  const gpus = req.gpus;
  for (let i = 0; i < records.length; i++) {
    const rec = records[i];
    scores[i] = 0;
    if (terms) terms[i] = undefined;
    if (!rec || rec.healthyCapacity <= 0) continue;
    const v = types.of(rec);
    if (v.code) continue;
    let t = byType.get(v);
    if (!t) byType.set(v, (t = typeScore(v)));
    const packing = Math.min(1, Math.max(0, (rec.healthyCapacity - rec.healthyFree + gpus) / rec.healthyCapacity));
    let sum = w.packing * packing;
    if (t.cost !== undefined) sum += t.weightedCost;
    if (t.deficit !== undefined) sum += t.weightedDeficit;
    const score = t.weight > 0 ? Math.round((MAX_EXTENDER_PRIORITY * sum) / t.weight) : 0;
    scores[i] = Math.min(MAX_EXTENDER_PRIORITY, Math.max(0, score));
    if (terms) terms[i] = { cost: t.cost, deficit: t.deficit, packing };
  }
}

/** `<score>}` and `<score>},` for every score, so each HostPriority entry is two pieces and needs no string of its own. */
const SCORE_CLOSE = Array.from({ length: MAX_EXTENDER_PRIORITY + 1 }, (_, score) => `${score}}`);
const SCORE_CLOSE_COMMA = SCORE_CLOSE.map((close) => `${close},`);

export function prioritize(
  ctx: PolicyContext,
  req: PlacementRequest,
  records: readonly (NodeRecord | undefined)[],
): HostPriority[] {
  const scores = new Array<number>(records.length);
  scoreInto(ctx, req, records, scores);
  return records.map((rec, i) => ({ Host: rec?.name ?? "", Score: scores[i]! }));
}

/** The same scores, encoded as a HostPriorityList; `names[i]` answers for `records[i]` (unknown nodes score 0). */
export function prioritizeJson(
  ctx: PolicyContext,
  req: PlacementRequest,
  names: readonly string[],
  records: readonly (NodeRecord | undefined)[],
): string {
  const n = records.length;
  const scores = new Array<number>(n);
  scoreInto(ctx, req, records, scores);
  // Joined once from pieces that already exist: a string per entry would be thousands of short-lived allocations.
  const parts = new Array<string>(2 * n + 2);
  parts[0] = "[";
  for (let i = 0; i < n; i++) {
    const rec = records[i];
    parts[2 * i + 1] = rec ? rec.hostPriorityPrefix : `{"Host":${JSON.stringify(names[i])},"Score":`;
    parts[2 * i + 2] = (i + 1 < n ? SCORE_CLOSE_COMMA : SCORE_CLOSE)[scores[i]!]!;
  }
  parts[2 * n + 1] = "]";
  return parts.join("");
}

/** Per-node terms (undefined entry = node unknown or not placeable), exposed so each term can be tested alone. */
export function scoreTerms(
  ctx: PolicyContext,
  req: PlacementRequest,
  records: readonly (NodeRecord | undefined)[],
): (ScoreTerms | undefined)[] {
  const terms = new Array<ScoreTerms | undefined>(records.length);
  scoreInto(ctx, req, records, new Array<number>(records.length), terms);
  return terms;
}

/** recommended − placed per GPU type for the pod's deployment; undefined when the optimizer has no mix for it. */
export function deficitByType(ctx: PolicyContext, req: PlacementRequest): Map<string, number> | undefined {
  if (!req.deploymentKey) return undefined;
  const rec = ctx.recommendations.getByKey(req.deploymentKey);
  if (!rec) return undefined;
  const placed = new Map<string, number>();
  for (const [label, n] of ctx.state.placedByGpuLabel(req.deploymentKey)) {
    const t = ctx.profiles.gpuType(label);
    placed.set(t, (placed.get(t) ?? 0) + n);
  }
  const out = new Map<string, number>();
  for (const [gpuType, want] of Object.entries(rec.recommended)) out.set(gpuType, want - (placed.get(gpuType) ?? 0));
  return out;
}

/**
 * Preemption: kube-scheduler proposes, per node, the pods it would evict for this pod. A node stays a candidate only
 * if, with those victims gone, it would pass the filter: type, SLO, memory and health hold, and the healthy GPUs free
 * plus the victims' GPUs cover the request. Victims are never added; a node we cannot judge is dropped, since
 * evicting pods there could not be shown to help.
 */
export function preemptCandidates(
  ctx: PolicyContext,
  req: PlacementRequest,
  candidates: ReadonlyMap<string, MetaVictims>,
): Record<string, MetaVictims> {
  const judge = new NodeJudge(ctx, req);
  const out: Record<string, MetaVictims> = {};
  for (const [name, victims] of candidates) {
    const rec = ctx.state.node(name);
    if (!rec) continue;
    const code = judge.judge(rec);
    if (code && code !== "insufficient_free_gpus") continue;
    let freed = 0;
    for (const v of victims.Pods) {
      const claim = ctx.state.claimOf(v.UID);
      if (claim?.node !== name) continue;
      // A victim pinned to a failing device frees nothing usable there.
      freed += claim.devices ? claim.devices.filter((d) => rec.failing[d] === 0).length : claim.gpus;
    }
    if (rec.healthyFree + freed >= req.gpus) out[name] = victims;
  }
  return out;
}
