import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { apiVersionOf, type KindDefinition } from "./kind.js";
import { joinPath, ProblemList, type Problem } from "./problem.js";
import { kindByName, kindInfo, KINDS } from "./registry.js";
import { checkObjectName, isRecord } from "./semantics.js";

const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: false });
ajv.addKeyword({ keyword: "x-kubernetes-preserve-unknown-fields" });
ajv.addKeyword({ keyword: "x-kubernetes-int-or-string" });
ajv.addFormat("int32", { type: "number", validate: (n: number) => n >= -2147483648 && n <= 2147483647 });
ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
ajv.addFormat("date-time", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i);

const compiled = new Map<KindDefinition, ValidateFunction>(KINDS.map((k) => [k, ajv.compile(k.schema)]));

function pathOf(instancePath: string): string {
  let path = "";
  for (const raw of instancePath.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    path = /^\d+$/.test(key) ? joinPath(path, Number(key)) : joinPath(path, key);
  }
  return path;
}

function valueAt(obj: unknown, instancePath: string): unknown {
  let cur: unknown = obj;
  for (const raw of instancePath.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Turns Ajv's errors into problems a person can act on, one per broken rule, anyOf noise folded away. */
function schemaProblems(obj: unknown, errors: ErrorObject[]): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  const intOrStringPaths = new Set(errors.filter((e) => e.keyword === "anyOf").map((e) => e.instancePath));
  for (const e of errors) {
    let path = pathOf(e.instancePath);
    let value = valueAt(obj, e.instancePath);
    let rule = e.keyword;
    let message = e.message ?? "is invalid";
    const params = e.params as Record<string, unknown>;
    if (intOrStringPaths.has(e.instancePath) && e.keyword !== "anyOf") continue;
    switch (e.keyword) {
      case "required":
        path = joinPath(path, String(params.missingProperty));
        value = undefined;
        message = "is required";
        break;
      case "additionalProperties":
        path = joinPath(path, String(params.additionalProperty));
        value = valueAt(obj, `${e.instancePath}/${String(params.additionalProperty)}`);
        rule = "known-field";
        message = "is not a field of this kind (check the spelling and the apiVersion)";
        break;
      case "enum":
        message = `must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
        break;
      case "const":
        rule = "enum";
        message = `must be ${JSON.stringify(params.allowedValue)}`;
        break;
      case "anyOf":
        rule = "int-or-string";
        message = "must be an integer or a string";
        break;
      case "type":
        message = `must be of type ${String(params.type)}`;
        break;
      case "pattern":
        message = `must match ${String(params.pattern)}`;
        break;
      case "format":
        message = `must be a valid ${String(params.format)}`;
        break;
    }
    const key = `${path}|${rule}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, value, rule, message });
  }
  return out;
}

/**
 * Every problem with an object of one of our kinds: shape (schema), then meaning (rules a schema cannot say).
 * Never throws, whatever it is given.
 */
export function validate(obj: unknown): Problem[] {
  if (!isRecord(obj))
    return [{ path: "", value: obj, rule: "object", message: "a manifest must be a JSON/YAML object" }];
  const def = kindInfo(obj.apiVersion, obj.kind);
  if (!def) {
    const known = typeof obj.kind === "string" ? kindByName(obj.kind) : undefined;
    if (known) {
      return [
        {
          path: "apiVersion",
          value: obj.apiVersion,
          rule: "enum",
          message: `${known.kind} is served as apiVersion ${apiVersionOf(known)}`,
        },
      ];
    }
    return [
      {
        path: "kind",
        value: obj.kind,
        rule: "known-kind",
        message: `not a kind of this project (${KINDS.map((k) => k.kind).join(", ")})`,
      },
    ];
  }
  const problems = new ProblemList();
  checkObjectName(obj, problems);
  const check = compiled.get(def) as ValidateFunction;
  if (!check(obj)) problems.items.push(...schemaProblems(obj, check.errors ?? []));
  try {
    def.rules(obj, problems);
  } catch (err) {
    // A rule that trips over a malformed shape must not hide the schema's own report.
    problems.add(
      "",
      undefined,
      "internal",
      `validation rules failed: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return problems.items;
}

/** Accepted-but-questionable things (deprecated keys, legacy aliases), for admission warnings. */
export function warnings(obj: unknown): Problem[] {
  if (!isRecord(obj)) return [];
  const def = kindInfo(obj.apiVersion, obj.kind);
  if (!def?.warnings) return [];
  const problems = new ProblemList();
  try {
    def.warnings(obj, problems);
  } catch {
    return [];
  }
  return problems.items;
}

/** Problems with an update: everything `validate` says about the new object, plus fields that may not change. */
export function validateUpdate(oldObj: unknown, newObj: unknown): Problem[] {
  const problems = validate(newObj);
  if (!isRecord(oldObj) || !isRecord(newObj)) return problems;
  const def = kindInfo(newObj.apiVersion, newObj.kind);
  if (!def?.immutable) return problems;
  const list = new ProblemList();
  try {
    def.immutable(oldObj, newObj, list);
  } catch (err) {
    list.add("", undefined, "internal", `update rules failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  return [...problems, ...list.items];
}
