// Runtime fault injection for one simulated engine (set through POST /admin/faults or RunningSimulator.setFaults):
//   errorRate      0..1: fraction of generation requests answered with `errorStatus` (default 500)
//   slowdown       >= 1 (any > 0): multiplies every step time, like a throttled or shared GPU
//   hang           true: requests (and /health) get no answer and the engine stops stepping, until set false
//   crash          true: the server stops abruptly (the CLI exits with `crashExitCode`)
//   metricOverrides {"vllm:num_requests_waiting": 50, ...}: gauges report these values; null removes one
// Per request, headers do the same: `x-simulator-error: <status>` and `x-simulator-delay-ms: <simulated ms>`.

export interface FaultSettings {
  errorRate: number;
  errorStatus: number;
  slowdown: number;
  hang: boolean;
  crash: boolean;
  crashExitCode: number;
  metricOverrides: Record<string, number | null>;
}

const DEFAULTS: FaultSettings = {
  errorRate: 0,
  errorStatus: 500,
  slowdown: 1,
  hang: false,
  crash: false,
  crashExitCode: 1,
  metricOverrides: {},
};

export class FaultError extends Error {}

export class FaultState {
  settings: FaultSettings = { ...DEFAULTS, metricOverrides: {} };
  readonly metricOverrides = new Map<string, number>();

  constructor(initial?: Partial<FaultSettings>) {
    if (initial) this.apply(FaultState.parsePatch(initial));
  }

  apply(patch: Partial<FaultSettings>): void {
    const { metricOverrides, ...rest } = patch;
    this.settings = { ...this.settings, ...rest };
    for (const [name, v] of Object.entries(metricOverrides ?? {})) {
      if (v === null) this.metricOverrides.delete(name);
      else this.metricOverrides.set(name, v);
    }
    this.settings.metricOverrides = Object.fromEntries(this.metricOverrides);
  }

  /** Checks an admin request body; errors name the field, the value and the rule. */
  static parsePatch(body: unknown): Partial<FaultSettings> {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new FaultError('faults: body must be a JSON object such as {"errorRate": 0.1}');
    }
    const b = body as Record<string, unknown>;
    const out: Partial<FaultSettings> = {};
    const known = new Set(Object.keys(DEFAULTS));
    for (const key of Object.keys(b)) {
      if (!known.has(key)) throw new FaultError(`${key}: unknown fault setting; known: ${[...known].join(", ")}`);
    }
    const num = (key: keyof FaultSettings, ok: (v: number) => boolean, rule: string): number | undefined => {
      const v = b[key];
      if (v === undefined) return undefined;
      if (typeof v !== "number" || !ok(v)) throw new FaultError(`${key}: ${JSON.stringify(v)} ${rule}`);
      return v;
    };
    const bool = (key: keyof FaultSettings): boolean | undefined => {
      const v = b[key];
      if (v === undefined) return undefined;
      if (typeof v !== "boolean") throw new FaultError(`${key}: ${JSON.stringify(v)} must be true or false`);
      return v;
    };
    const errorRate = num("errorRate", (v) => v >= 0 && v <= 1, "must be a number from 0 to 1");
    const errorStatus = num("errorStatus", (v) => Number.isInteger(v) && v >= 400 && v <= 599, "must be 400-599");
    const slowdown = num("slowdown", (v) => v > 0 && Number.isFinite(v), "must be a positive number");
    const crashExitCode = num("crashExitCode", (v) => Number.isInteger(v) && v >= 0 && v <= 255, "must be 0-255");
    const hang = bool("hang");
    const crash = bool("crash");
    if (errorRate !== undefined) out.errorRate = errorRate;
    if (errorStatus !== undefined) out.errorStatus = errorStatus;
    if (slowdown !== undefined) out.slowdown = slowdown;
    if (crashExitCode !== undefined) out.crashExitCode = crashExitCode;
    if (hang !== undefined) out.hang = hang;
    if (crash !== undefined) out.crash = crash;
    const mo = b.metricOverrides;
    if (mo !== undefined) {
      if (typeof mo !== "object" || mo === null || Array.isArray(mo)) {
        throw new FaultError("metricOverrides: must be an object of metric name to number (or null to clear)");
      }
      const overrides: Record<string, number | null> = {};
      for (const [name, v] of Object.entries(mo as Record<string, unknown>)) {
        if (v !== null && (typeof v !== "number" || !Number.isFinite(v))) {
          throw new FaultError(`metricOverrides.${name}: ${JSON.stringify(v)} must be a number or null`);
        }
        overrides[name] = v as number | null;
      }
      out.metricOverrides = overrides;
    }
    return out;
  }
}
