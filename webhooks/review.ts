// AdmissionReview v1 on the wire: parse a request body into a checked request (or a BadReview naming what is wrong),
// and build the response envelope (uid echoed, base64 JSONPatch, warnings, status on denial).
import type { Operation } from "fast-json-patch";

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";

export const OPERATIONS = ["CREATE", "UPDATE", "DELETE", "CONNECT"] as const;
export type AdmissionOperation = (typeof OPERATIONS)[number];

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** The parts of `.request` this server reads, checked for shape. */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  operation: AdmissionOperation;
  namespace: string;
  name: string;
  subResource: string;
  /** The object being admitted; null on DELETE. */
  object: Record<string, unknown> | null;
  /** The stored object on UPDATE/DELETE, else null. */
  oldObject: Record<string, unknown> | null;
  dryRun: boolean;
}

export interface AdmissionStatus {
  code: number;
  reason: string;
  message: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patch?: string;
  patchType?: "JSONPatch";
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: "AdmissionReview";
  response: AdmissionResponse;
}

/** A request body that is not a usable AdmissionReview: answered with HTTP 400 and this message. */
export class BadReview extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
    message: string,
  ) {
    super(message);
    this.name = "BadReview";
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return "absent";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? text.slice(0, 57) + "..." : text;
}

/** Parses raw bytes into a checked request; throws BadReview with field, value and rule on any defect. */
export function parseAdmissionReview(body: Buffer | string): AdmissionRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof body === "string" ? body : body.toString("utf8"));
  } catch (err) {
    throw new BadReview(
      "(body)",
      "json",
      `request body is not valid JSON (${(err as Error).message}); send an AdmissionReview`,
    );
  }
  if (!isRecord(doc)) {
    throw new BadReview(
      "(body)",
      "object",
      `request body must be a JSON object (an AdmissionReview), got ${describe(doc)}`,
    );
  }
  if (doc.apiVersion !== ADMISSION_API_VERSION) {
    throw new BadReview(
      "apiVersion",
      "admission-v1",
      `apiVersion ${describe(doc.apiVersion)} is not supported: this server speaks ${ADMISSION_API_VERSION}; ` +
        `list admissionReviewVersions: ["v1"] in the webhook configuration`,
    );
  }
  if (doc.kind !== "AdmissionReview") {
    throw new BadReview("kind", "AdmissionReview", `kind ${describe(doc.kind)} must be "AdmissionReview"`);
  }
  const req = doc.request;
  if (!isRecord(req)) {
    throw new BadReview(
      "request",
      "required",
      `request ${describe(req)} must be an object: an AdmissionReview needs .request`,
    );
  }
  if (typeof req.uid !== "string" || req.uid.length === 0) {
    throw new BadReview("request.uid", "required", `request.uid ${describe(req.uid)} must be a non-empty string`);
  }
  const kind = req.kind;
  if (!isRecord(kind) || typeof kind.kind !== "string" || kind.kind === "" || typeof kind.version !== "string") {
    throw new BadReview(
      "request.kind",
      "group-version-kind",
      `request.kind ${describe(kind)} must be {group, version, kind} with a non-empty kind`,
    );
  }
  if (kind.group !== undefined && typeof kind.group !== "string") {
    throw new BadReview("request.kind.group", "string", `request.kind.group ${describe(kind.group)} must be a string`);
  }
  const operation = req.operation;
  if (typeof operation !== "string" || !(OPERATIONS as readonly string[]).includes(operation)) {
    throw new BadReview(
      "request.operation",
      "enum",
      `request.operation ${describe(operation)} must be one of ${OPERATIONS.join(", ")}`,
    );
  }
  const object = req.object ?? null;
  if (object !== null && !isRecord(object)) {
    throw new BadReview("request.object", "object", `request.object ${describe(object)} must be an object or null`);
  }
  if (object === null && (operation === "CREATE" || operation === "UPDATE")) {
    throw new BadReview("request.object", "required", `request.object is required for operation ${operation}`);
  }
  const oldObject = req.oldObject ?? null;
  if (oldObject !== null && !isRecord(oldObject)) {
    throw new BadReview(
      "request.oldObject",
      "object",
      `request.oldObject ${describe(oldObject)} must be an object or null`,
    );
  }
  for (const field of ["namespace", "name", "subResource"] as const) {
    if (req[field] !== undefined && req[field] !== null && typeof req[field] !== "string") {
      throw new BadReview(`request.${field}`, "string", `request.${field} ${describe(req[field])} must be a string`);
    }
  }
  return {
    uid: req.uid,
    kind: { group: (kind.group as string | undefined) ?? "", version: kind.version, kind: kind.kind },
    operation: operation as AdmissionOperation,
    namespace: (req.namespace as string | undefined) ?? "",
    name: (req.name as string | undefined) ?? "",
    subResource: (req.subResource as string | undefined) ?? "",
    object,
    oldObject,
    dryRun: req.dryRun === true,
  };
}

/** Warnings must stay short (kube-apiserver truncates past 120 characters); keep each readable on its own. */
export function clipWarning(text: string): string {
  return text.length <= 120 ? text : text.slice(0, 117) + "...";
}

export function allow(uid: string, patch: Operation[] = [], warnings: string[] = []): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: true };
  if (patch.length > 0) {
    response.patch = Buffer.from(JSON.stringify(patch)).toString("base64");
    response.patchType = "JSONPatch";
  }
  if (warnings.length > 0) response.warnings = warnings.map(clipWarning);
  return response;
}

export function deny(
  uid: string,
  code: number,
  reason: string,
  message: string,
  warnings: string[] = [],
): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: false, status: { code, reason, message } };
  if (warnings.length > 0) response.warnings = warnings.map(clipWarning);
  return response;
}

export function envelope(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: "AdmissionReview", response };
}
