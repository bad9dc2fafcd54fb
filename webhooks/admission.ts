// One admission call end to end, transport aside: parse the AdmissionReview, run the mutating or validating logic,
// build the response. Never throws: bad input is a 400 with a message, a bug in a rule is logged and answered.
import fastJsonPatch, { type Operation } from "fast-json-patch";
import type { Logger } from "pino";
import type { ClusterLookup } from "./cluster.js";
import type { WebhookConfig } from "./config.js";
import type { Outcome } from "./metrics.js";
import { mutatesKind, mutateWorkload } from "./mutation.js";
import { allow, BadReview, deny, envelope, parseAdmissionReview, type AdmissionReviewResponse } from "./review.js";
import { defaultCustomResource, isOurKind, validateCustomResource } from "./validation.js";

export type WebhookRole = "mutate" | "validate";

export interface AdmissionDeps {
  config: WebhookConfig;
  cluster?: ClusterLookup;
  logger: Logger;
}

export type AdmissionResult =
  | { status: 200; body: AdmissionReviewResponse; outcome: Outcome }
  | { status: 400; body: { error: string; field: string; rule: string }; outcome: Outcome };

async function mutate(deps: AdmissionDeps, req: ReturnType<typeof parseAdmissionReview>) {
  const { group, version, kind } = req.kind;
  const ours = isOurKind(group, version, kind);
  if (!ours && !mutatesKind(group, kind)) {
    return allow(
      req.uid,
      [],
      [`kind ${group ? group + "/" : ""}${version} ${kind} is not mutated by this webhook; allowed unchanged`],
    );
  }
  // Defaults first; workload operations are computed on the defaulted object so the two patches compose.
  const defaults: Operation[] = ours ? defaultCustomResource(req) : [];
  let target = req;
  if (defaults.length > 0 && req.object) {
    const object = fastJsonPatch.applyPatch(structuredClone(req.object), defaults, false, false).newDocument;
    target = { ...req, object };
  }
  const workload = mutatesKind(group, kind)
    ? await mutateWorkload(target, deps.config, deps.cluster)
    : { ops: [], warnings: [] };
  return allow(req.uid, [...defaults, ...workload.ops], workload.warnings);
}

async function validateReq(deps: AdmissionDeps, req: ReturnType<typeof parseAdmissionReview>) {
  const result = await validateCustomResource(req, deps.cluster);
  if (result.allowed) return allow(req.uid, [], result.warnings);
  return deny(req.uid, 422, "Invalid", result.message, result.warnings);
}

/** Answers one AdmissionReview body for a webhook of the given role. */
export async function admit(deps: AdmissionDeps, role: WebhookRole, body: Buffer): Promise<AdmissionResult> {
  let req;
  try {
    req = parseAdmissionReview(body);
  } catch (err) {
    if (err instanceof BadReview) {
      return { status: 400, body: { error: err.message, field: err.field, rule: err.rule }, outcome: "bad_request" };
    }
    throw err;
  }
  try {
    const response = role === "mutate" ? await mutate(deps, req) : await validateReq(deps, req);
    const outcome: Outcome = !response.allowed ? "denied" : response.patch ? "patched" : "allowed";
    const log = {
      uid: req.uid,
      kind: req.kind.kind,
      namespace: req.namespace,
      name: req.name,
      operation: req.operation,
    };
    if (!response.allowed) deps.logger.info({ ...log, reason: response.status?.message }, "admission denied");
    else deps.logger.debug({ ...log, outcome }, "admission answered");
    return { status: 200, body: envelope(response), outcome };
  } catch (err) {
    // A defect in our own rules: say so in the answer. Mutation fails open (the object is admitted unchanged, as
    // failurePolicy Ignore would); validation fails closed so a crash never lets a bad object through silently.
    const message = `internal error in the ${role} webhook: ${(err as Error).message}`;
    deps.logger.error({ uid: req.uid, kind: req.kind.kind, err: (err as Error).stack }, message);
    const response = role === "mutate" ? allow(req.uid, [], [message]) : deny(req.uid, 500, "InternalError", message);
    return { status: 200, body: envelope(response), outcome: "error" };
  }
}
