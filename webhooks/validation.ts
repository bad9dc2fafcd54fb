// The validating webhook for our custom resources: the shared schema and rules from api/, update rules against
// oldObject, and the checks only a live cluster can answer (the scale target is served and has /scale).
import fastJsonPatch, { type Operation } from "fast-json-patch";
import {
  formatProblem,
  kindInfo,
  validate,
  validateUpdate,
  warnings,
  withDefaults,
  type Problem,
} from "../api/index.js";
import { AUTOSCALING_GROUP, KVCacheAnnotation, ORCHESTRATION_GROUP } from "../api/labels.js";
import type { ClusterLookup } from "./cluster.js";
import type { AdmissionRequest } from "./review.js";

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export interface ValidationOutcome {
  allowed: boolean;
  /** Blocking problems (empty when allowed). */
  problems: Problem[];
  warnings: string[];
  /** Denial message: kind, name, then every problem with field, value and rule. */
  message: string;
}

/** apiVersion to assume when a scaleTargetRef names a well-known kind without one. */
const DEFAULT_SCALE_TARGET_API: Record<string, string> = {
  Deployment: "apps/v1",
  StatefulSet: "apps/v1",
  ReplicaSet: "apps/v1",
  RayClusterFleet: `${ORCHESTRATION_GROUP}/v1alpha1`,
  StormService: `${ORCHESTRATION_GROUP}/v1alpha1`,
};

export function isOurKind(group: string, version: string, kind: string): boolean {
  return kindInfo(group === "" ? version : `${group}/${version}`, kind) !== undefined;
}

function problemKey(p: Problem): string {
  return `${p.path}|${p.rule}`;
}

function objectName(obj: Json, req: AdmissionRequest): string {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === "string" && meta.name ? meta.name : req.name || String(meta.generateName ?? "");
  return req.namespace ? `${req.namespace}/${name}` : name;
}

/** The scale target exists as a kind in this cluster and can be scaled; lookup failures only warn. */
async function scaleTargetProblems(obj: Json, cluster: ClusterLookup, out: ValidationOutcome): Promise<Problem[]> {
  const spec = isRecord(obj.spec) ? obj.spec : {};
  const ref = isRecord(spec.scaleTargetRef) ? spec.scaleTargetRef : undefined;
  if (!ref || typeof ref.kind !== "string" || ref.kind === "") return []; // the schema rules already report it
  const kind = ref.kind;
  const apiVersion =
    typeof ref.apiVersion === "string" && ref.apiVersion ? ref.apiVersion : DEFAULT_SCALE_TARGET_API[kind];
  if (!apiVersion) {
    out.warnings.push(
      `spec.scaleTargetRef.apiVersion is empty; cannot check that kind ${kind} has a /scale subresource`,
    );
    return [];
  }
  let facts;
  try {
    facts = await cluster.resourceFacts(apiVersion, kind);
  } catch (err) {
    out.warnings.push(`could not check scale target ${apiVersion} ${kind}: ${(err as Error).message}`);
    return [];
  }
  if (!facts.served) {
    return [
      {
        path: "spec.scaleTargetRef.kind",
        value: kind,
        rule: "served-kind",
        message: `kind ${kind} is not served under apiVersion ${apiVersion} in this cluster; fix kind/apiVersion or install its CRD`,
      },
    ];
  }
  if (!facts.scalable) {
    return [
      {
        path: "spec.scaleTargetRef.kind",
        value: kind,
        rule: "scale-subresource",
        message: `${apiVersion} ${kind} has no /scale subresource, so it cannot be autoscaled; target a Deployment, StatefulSet or RayClusterFleet`,
      },
    ];
  }
  return [];
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Create/update validation of one of our kinds. Unknown kinds are allowed with a warning (never blocked by accident). */
export async function validateCustomResource(
  req: AdmissionRequest,
  cluster?: ClusterLookup,
): Promise<ValidationOutcome> {
  const out: ValidationOutcome = { allowed: true, problems: [], warnings: [], message: "" };
  const { group, version, kind } = req.kind;
  if (req.operation !== "CREATE" && req.operation !== "UPDATE") return out;
  if (req.subResource !== "") return out;
  if (!isOurKind(group, version, kind)) {
    out.warnings.push(
      `kind ${group ? group + "/" : ""}${version} ${kind} is not validated by this webhook; allowed unchanged`,
    );
    return out;
  }
  const obj = req.object as Json;
  const old = req.operation === "UPDATE" ? req.oldObject : null;
  if (old && isRecord(obj.metadata) && obj.metadata.deletionTimestamp) return out; // let finalizers be removed

  let problems = old ? validateUpdate(old, obj) : validate(obj);
  if (old) {
    // Ratchet: a problem the stored object already had does not block unrelated edits; it is reported as a warning.
    const before = new Set(validate(old).map(problemKey));
    const carried = problems.filter((p) => before.has(problemKey(p)) && p.rule !== "immutable");
    problems = problems.filter((p) => !carried.includes(p));
    for (const p of carried) out.warnings.push(`already invalid: ${formatProblem(p)}`);
  }
  if (cluster && group === AUTOSCALING_GROUP && kind === "PodAutoscaler") {
    const changed =
      !old || !sameJson((old.spec as Json | undefined)?.scaleTargetRef, (obj.spec as Json | undefined)?.scaleTargetRef);
    if (changed) problems.push(...(await scaleTargetProblems(obj, cluster, out)));
  }
  // Warnings are clipped at 120 characters, so they say where and what, without echoing the value.
  for (const w of warnings(obj)) {
    const where = w.path.replace(/^metadata\.annotations\["(.+)"\]$/, "annotation $1");
    out.warnings.push(`${where}: ${w.message}`);
  }
  if (problems.length > 0) {
    out.allowed = false;
    out.problems = problems;
    out.message = `${kind} ${objectName(obj, req)} is invalid: ${problems.map(formatProblem).join("; ")}`;
  }
  return out;
}

/**
 * Defaulting for our kinds (AIBrix serves it on /mutate-<group>-v1alpha1-<kind>): the schema defaults and the
 * defaults a schema cannot express, as `add` operations only, so nothing the user wrote is replaced.
 */
export function defaultCustomResource(req: AdmissionRequest): Operation[] {
  const { group, version, kind } = req.kind;
  if ((req.operation !== "CREATE" && req.operation !== "UPDATE") || req.subResource !== "") return [];
  if (!isOurKind(group, version, kind) || !req.object) return [];
  const defaulted = withDefaults(req.object);
  const ops: Operation[] = fastJsonPatch.compare(req.object, defaulted as object).filter((op) => op.op === "add");
  if (kind === "KVCache") ops.push(...kvCacheAnnotationDefaults(req.object));
  return ops;
}

/** JSON Pointer escaping of one key (`/` and `~` occur in annotation names). */
const pointerKey = (key: string) => key.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * AIBrix's KVCache defaulting: the backend and mode annotations, when absent or empty, become `vineyard` (the
 * backend a KVCache meant before the annotations existed).
 */
export function kvCacheAnnotationDefaults(object: Record<string, unknown>): Operation[] {
  const meta = object.metadata;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return [];
  const current = (meta as Record<string, unknown>).annotations;
  const wanted = [KVCacheAnnotation.backend, KVCacheAnnotation.legacyMode];
  if (current === undefined || current === null) {
    return [
      { op: "add", path: "/metadata/annotations", value: Object.fromEntries(wanted.map((k) => [k, "vineyard"])) },
    ];
  }
  if (typeof current !== "object" || Array.isArray(current)) return [];
  const annotations = current as Record<string, unknown>;
  return wanted
    .filter((k) => annotations[k] === undefined || annotations[k] === "")
    .map((k) => ({ op: "add" as const, path: `/metadata/annotations/${pointerKey(k)}`, value: "vineyard" }));
}
