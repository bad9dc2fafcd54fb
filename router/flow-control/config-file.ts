// The flow-control YAML file (`aibrix-ts router --flow-control-config f.yaml`):
//
//   auth: keys                      # off (default: the `user` header names the tenant) | keys
//   unknownUsers: allow             # allow | reject (auth off, a `user` header naming nobody)
//   onRedisFailure: open            # open (serve with local limits) | closed (503)
//   limits:
//     models: {llama-3-8b: {rps: 50, concurrency: 64}}
//     defaultModel: {concurrency: 256}
//   fairness: {policy: vtc, maxQueued: 10000, maxWaitMs: 60000, inputWeight: 1, outputWeight: 2}
//   saturation: {queueDepth: 5, kvCacheUsage: 0.8}
//   users:                          # created at start when absent (existing users are left as they are)
//     - {name: alice, rpm: 600, tpm: 200000, priority: critical, models: [llama-3-8b]}
//
// Every error names the field, the value and the rule.
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import type { FieldProblem } from "./users/user.js";
import { validateUserInput, type UserInput } from "./users/user.js";
import type { FlowControlConfig } from "./create.js";

export interface FlowControlFile {
  config: FlowControlConfig;
  users: UserInput[];
}

export class FlowControlConfigError extends Error {}

const PLAIN = ["auth", "unknownUsers", "onRedisFailure", "redisUrl"];
const TOP = ["auth", "unknownUsers", "onRedisFailure", "redisUrl", "limits", "fairness", "saturation", "users"];

type Fail = (field: string, value: unknown, rule: string, message: string) => void;

function positive(fail: Fail, path: string, v: unknown, integer: boolean): void {
  if (v === undefined) return;
  if (typeof v !== "number" || v <= 0 || (integer && !Number.isInteger(v))) {
    fail(path, v, integer ? "integer > 0" : "number > 0", `must be ${integer ? "an integer" : "a number"} > 0`);
  }
}

function checkModelLimits(fail: Fail, path: string, v: unknown): void {
  if (v === undefined) return;
  if (!isMap(v)) return fail(path, v, "mapping", "must be a mapping {rps?, concurrency?}");
  for (const [k, x] of Object.entries(v)) {
    if (k !== "rps" && k !== "concurrency") fail(`${path}.${k}`, x, "known-field", "known: rps, concurrency");
    else positive(fail, `${path}.${k}`, x, true);
  }
}

/** `limits:`: the user window, the default model's and each model's {rps, concurrency}. */
function checkLimits(limits: Record<string, unknown>, fail: Fail): void {
  positive(fail, "limits.userWindowMs", limits.userWindowMs, true);
  checkModelLimits(fail, "limits.defaultModel", limits.defaultModel);
  if (limits.models !== undefined) {
    if (!isMap(limits.models))
      fail("limits.models", limits.models, "mapping", "must map model name → {rps, concurrency}");
    else for (const [m, v] of Object.entries(limits.models)) checkModelLimits(fail, `limits.models.${m}`, v);
  }
}

export function parseFlowControlConfig(text: string, file = "flow-control config"): FlowControlFile {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new FlowControlConfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  const problems: FieldProblem[] = [];
  const fail = (field: string, value: unknown, rule: string, message: string) =>
    problems.push({ field, value, rule, message });
  if (!isMap(doc)) throw new FlowControlConfigError(`${file}: must be a mapping of settings`);
  for (const k of Object.keys(doc)) {
    if (!TOP.includes(k)) fail(k, doc[k], "known-field", `unknown setting; known: ${TOP.join(", ")}`);
  }
  const oneOf = (field: string, allowed: string[]) => {
    const v = doc[field];
    if (v !== undefined && !allowed.includes(v as string))
      fail(field, v, "enum", `must be one of ${allowed.join(" | ")}`);
  };
  oneOf("auth", ["off", "keys"]);
  oneOf("unknownUsers", ["allow", "reject"]);
  oneOf("onRedisFailure", ["open", "closed"]);
  if (doc.redisUrl !== undefined && (typeof doc.redisUrl !== "string" || !/^rediss?:\/\//.test(doc.redisUrl))) {
    fail("redisUrl", doc.redisUrl, "url", "must be redis://host:port or rediss://host:port");
  }

  const limits = section(doc, "limits", ["userWindowMs", "models", "defaultModel"], fail);
  if (limits) checkLimits(limits, fail);
  const fairness = section(
    doc,
    "fairness",
    ["policy", "maxQueued", "maxWaitMs", "inputWeight", "outputWeight", "retryMs"],
    fail,
  );
  if (fairness) {
    if (fairness.policy !== undefined && fairness.policy !== "vtc" && fairness.policy !== "fcfs") {
      fail("fairness.policy", fairness.policy, "enum", "must be one of vtc | fcfs");
    }
    for (const k of ["maxQueued", "maxWaitMs", "retryMs"]) positive(fail, `fairness.${k}`, fairness[k], true);
    for (const k of ["inputWeight", "outputWeight"]) positive(fail, `fairness.${k}`, fairness[k], false);
  }
  const saturation = section(doc, "saturation", ["queueDepth", "kvCacheUsage"], fail);
  if (saturation) {
    positive(fail, "saturation.queueDepth", saturation.queueDepth, false);
    const kv = saturation.kvCacheUsage;
    if (kv !== undefined && (typeof kv !== "number" || kv <= 0 || kv > 1)) {
      fail("saturation.kvCacheUsage", kv, "0 < x <= 1", "must be a fraction in (0, 1]");
    }
  }
  const users: UserInput[] = [];
  if (doc.users !== undefined) {
    if (!Array.isArray(doc.users)) fail("users", doc.users, "list", "must be a list of users");
    else
      doc.users.forEach((u: unknown, i: number) => {
        for (const p of validateUserInput(u, false)) fail(`users[${i}].${p.field}`, p.value, p.rule, p.message);
        users.push(u as UserInput);
      });
  }
  if (problems.length > 0) {
    const lines = problems.map((p) => `  ${p.field}: ${JSON.stringify(p.value)}: ${p.message} (rule: ${p.rule})`);
    throw new FlowControlConfigError(`${file}: ${problems.length} problem(s):\n${lines.join("\n")}`);
  }
  // The plain settings were checked above (enums, the URL).
  const plain = Object.entries(doc).filter(([k, v]) => PLAIN.includes(k) && v !== undefined);
  const config = Object.fromEntries(plain) as FlowControlConfig;
  if (limits) config.limits = limits as FlowControlConfig["limits"];
  if (fairness) config.fairness = fairness as FlowControlConfig["fairness"];
  if (saturation) config.saturation = saturation as FlowControlConfig["saturation"];
  return { config, users };
}

export async function loadFlowControlConfig(file: string): Promise<FlowControlFile> {
  return parseFlowControlConfig(await readFile(file, "utf8"), file);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function section(
  doc: Record<string, unknown>,
  name: string,
  known: string[],
  fail: (field: string, value: unknown, rule: string, message: string) => void,
): Record<string, unknown> | undefined {
  const v = doc[name];
  if (v === undefined) return undefined;
  if (!isMap(v)) {
    fail(name, v, "mapping", `must be a mapping (${known.join(", ")})`);
    return undefined;
  }
  for (const k of Object.keys(v))
    if (!known.includes(k)) fail(`${name}.${k}`, v[k], "known-field", `known: ${known.join(", ")}`);
  return v;
}
