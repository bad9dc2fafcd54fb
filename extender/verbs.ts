// The extender's four verbs, each from the request body to the answer's JSON text and an outcome for the metrics:
// parsing and encoding here, decisions in policy.ts and bind.ts. kube-scheduler's protocol answers bad input with
// a 200 in the verb's own shape, so every verb returns rather than throws for it.
import type { Logger } from "pino";
import type { KnownNameList } from "./args-scan.js";
import { bindPod, type PodBinder } from "./bind.js";
import type { ExtenderMetrics, Outcome } from "./metrics.js";
import { podFacts } from "./pod.js";
import {
  filterNamesJson,
  filterNodes,
  preemptCandidates,
  prioritizeJson,
  type PlacementRequest,
  type PolicyContext,
  type PolicyOptions,
} from "./policy.js";
import { readExtenderArgs } from "./read-args.js";
import type { ClusterState } from "./state.js";
import {
  checkBindingArgs,
  checkPreemptionArgs,
  filterError,
  parseJson,
  type ExtenderBindingResult,
  type ExtenderPreemptionResult,
  type PodObject,
} from "./wire.js";

export interface VerbAnswer {
  text: string;
  outcome: Outcome;
}

export interface VerbDeps {
  state: ClusterState;
  policy: PolicyOptions;
  /** The policy's inputs as of now (state, profiles, recommendations, options, clock). */
  context(): PolicyContext;
  binder: PodBinder;
  log: Logger;
  metrics: ExtenderMetrics;
}

function podName(pod: PodObject): string {
  return `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;
}

export class ExtenderVerbs {
  /**
   * The last names-only filter's candidates, and the ones it let through: kube-scheduler sends the next filter nearly
   * the same candidates and prioritize exactly the survivors, which then need few or no name lookups.
   */
  private lastCandidates: KnownNameList | undefined;
  private lastPassed: KnownNameList | undefined;

  constructor(private readonly deps: VerbDeps) {}

  /** The placement request for a model GPU pod, undefined for pods we pass through, or an error text. */
  private placementOf(pod: PodObject): PlacementRequest | undefined | string {
    let facts;
    try {
      facts = podFacts(pod, this.deps.policy.gpuResource);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    if (!facts.model || facts.gpus === 0) return undefined;
    return { model: facts.model, gpus: facts.gpus, deploymentKey: facts.deploymentKey };
  }

  filter(body: Buffer): VerbAnswer {
    const args = readExtenderArgs(body, this.deps.state, this.lastCandidates);
    if (!args.ok) return { text: JSON.stringify(filterError(args.error)), outcome: "error" };
    const req = this.placementOf(args.value.Pod);
    if (typeof req === "string") return { text: JSON.stringify(filterError(req)), outcome: "error" };
    const { names, records, Nodes } = args.value;
    if (!req) {
      return {
        text: JSON.stringify({
          Nodes: names ? null : Nodes,
          NodeNames: names,
          FailedNodes: {},
          FailedAndUnresolvableNodes: {},
          Error: "",
        }),
        outcome: "passthrough",
      };
    }
    const ctx = this.deps.context();
    let text: string;
    let passed: number;
    let reasons;
    if (names && records) {
      const answer = filterNamesJson(ctx, req, names, records);
      ({ json: text, passed, reasons } = answer);
      const list = args.value.list;
      if (list) this.lastCandidates = list;
      this.lastPassed = list?.subset(answer.passedAt, Buffer.from(answer.passedList, "utf8"));
    } else {
      const out = filterNodes(ctx, req, Nodes!.items);
      text = JSON.stringify(out.result);
      passed = out.result.Nodes!.items.length;
      reasons = out.reasons;
    }
    this.deps.metrics.filteredOut(reasons);
    if (this.deps.log.isLevelEnabled("debug")) {
      this.deps.log.debug(
        { verb: "filter", pod: podName(args.value.Pod), passed, reasons: Object.fromEntries(reasons) },
        "filtered",
      );
    }
    return { text, outcome: "managed" };
  }

  prioritize(body: Buffer): VerbAnswer {
    const args = readExtenderArgs(body, this.deps.state, this.lastPassed);
    // HostPriorityList has no Error field; kube-scheduler ignores prioritize failures, so answer "no opinion".
    if (!args.ok) {
      this.deps.log.warn({ verb: "prioritize", error: args.error }, "malformed prioritize request");
      return { text: "[]", outcome: "error" };
    }
    const req = this.placementOf(args.value.Pod);
    if (typeof req === "string") {
      this.deps.log.warn({ verb: "prioritize", error: req }, "malformed pod in prioritize request");
      return { text: "[]", outcome: "error" };
    }
    if (!req) return { text: "[]", outcome: "passthrough" };
    const { names, records, Nodes } = args.value;
    // Unknown names still get an entry (score 0) so every candidate is answered.
    if (names && records) return { text: prioritizeJson(this.deps.context(), req, names, records), outcome: "managed" };
    const items = Nodes!.items;
    return {
      text: prioritizeJson(
        this.deps.context(),
        req,
        items.map((n) => n.metadata?.name ?? ""),
        items.map((n) => this.deps.state.recordFor(n)),
      ),
      outcome: "managed",
    };
  }

  preempt(body: Buffer): VerbAnswer {
    const parsed = parseJson(body.toString("utf8"));
    const args = parsed.ok ? checkPreemptionArgs(parsed.value) : parsed;
    // ExtenderPreemptionResult has no Error field: an empty map means "preempting helps nowhere", the safe answer.
    const none = JSON.stringify({ NodeNameToMetaVictims: {} } satisfies ExtenderPreemptionResult);
    if (!args.ok) {
      this.deps.log.warn({ verb: "preempt", error: args.error }, "malformed preempt request");
      return { text: none, outcome: "error" };
    }
    const { Pod, candidates } = args.value;
    const req = this.placementOf(Pod);
    if (typeof req === "string") {
      this.deps.log.warn({ verb: "preempt", error: req }, "malformed pod in preempt request");
      return { text: none, outcome: "error" };
    }
    if (!req) {
      const result: ExtenderPreemptionResult = { NodeNameToMetaVictims: Object.fromEntries(candidates) };
      return { text: JSON.stringify(result), outcome: "passthrough" };
    }
    const kept = preemptCandidates(this.deps.context(), req, candidates);
    return {
      text: JSON.stringify({ NodeNameToMetaVictims: kept } satisfies ExtenderPreemptionResult),
      outcome: "managed",
    };
  }

  async bind(body: Buffer): Promise<VerbAnswer> {
    const parsed = parseJson(body.toString("utf8"));
    const args = parsed.ok ? checkBindingArgs(parsed.value) : parsed;
    if (!args.ok)
      return { text: JSON.stringify({ Error: args.error } satisfies ExtenderBindingResult), outcome: "error" };
    const a = args.value;
    const out = await bindPod(this.deps.state, this.deps.binder, a, this.deps.policy.gpuResource, (seconds) =>
      this.deps.metrics.bindingPost.observe(seconds),
    );
    if (out.error) {
      this.deps.log.warn(
        { verb: "bind", pod: `${a.PodNamespace}/${a.PodName}`, node: a.Node, error: out.error },
        "bind failed",
      );
      return { text: JSON.stringify({ Error: out.error } satisfies ExtenderBindingResult), outcome: "error" };
    }
    this.deps.log.info(
      { verb: "bind", pod: `${a.PodNamespace}/${a.PodName}`, node: a.Node, devices: out.devices },
      "bound",
    );
    return { text: JSON.stringify({ Error: "" } satisfies ExtenderBindingResult), outcome: "bound" };
  }
}
