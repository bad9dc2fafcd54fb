// The PodAutoscaler's tuning annotations (`autoscaling.aibrix.ai/*`), parsed once per reconcile into numbers the
// algorithms use. The rules match what `validate` enforces at admission (api/kinds/pod-autoscaler.ts), so an object
// that slipped past the webhook gets the same error here instead of a silent default.
import { AutoscalingAnnotation } from "../../api/labels.js";
import { joinPath, ProblemList, type Problem } from "../../api/problem.js";
import { parseGoDuration } from "../../api/semantics.js";

export interface AutoscalerTuning {
  /** A scale-up may reach at most ceil(rate · current). */
  maxScaleUpRate: number;
  /** A scale-down may reach at least floor(current / rate). */
  maxScaleDownRate: number;
  scaleUpTolerance: number;
  scaleDownTolerance: number;
  /** KPA panics when the panic-window value exceeds the stable value by this factor. */
  panicThreshold: number;
  scaleUpCooldownMs: number;
  scaleDownCooldownMs: number;
  scaleToZero: boolean;
}

export const DEFAULT_TUNING: Readonly<AutoscalerTuning> = Object.freeze({
  maxScaleUpRate: 2,
  maxScaleDownRate: 2,
  scaleUpTolerance: 0.1,
  scaleDownTolerance: 0.1,
  panicThreshold: 2,
  scaleUpCooldownMs: 0,
  scaleDownCooldownMs: 300_000,
  scaleToZero: false,
});

export interface ParsedTuning {
  tuning: AutoscalerTuning;
  /** Values that break a rule; the spec is invalid while any remain (the ValidSpec condition names them). */
  errors: Problem[];
  /** Accepted but worth telling the owner about (the legacy scale-down-delay key). */
  warnings: Problem[];
}

type NumberKey = "maxScaleUpRate" | "maxScaleDownRate" | "scaleUpTolerance" | "scaleDownTolerance" | "panicThreshold";

const NUMBER_RULES: { key: string; field: NumberKey; ok: (n: number) => boolean; what: string }[] = [
  { key: AutoscalingAnnotation.maxScaleUpRate, field: "maxScaleUpRate", ok: (n) => n >= 1, what: "a number >= 1" },
  { key: AutoscalingAnnotation.maxScaleDownRate, field: "maxScaleDownRate", ok: (n) => n >= 1, what: "a number >= 1" },
  { key: AutoscalingAnnotation.scaleUpTolerance, field: "scaleUpTolerance", ok: (n) => n >= 0, what: "a number >= 0" },
  {
    key: AutoscalingAnnotation.scaleDownTolerance,
    field: "scaleDownTolerance",
    ok: (n) => n >= 0,
    what: "a number >= 0",
  },
  { key: AutoscalingAnnotation.panicThreshold, field: "panicThreshold", ok: (n) => n > 1, what: "a number > 1" },
];

const at = (key: string) => joinPath("metadata.annotations", key);

function parseDurationMs(raw: string, key: string, errors: ProblemList): number | undefined {
  const seconds = parseGoDuration(raw);
  if (seconds === undefined) {
    errors.add(at(key), raw, "duration", 'must be a duration such as "30s", "5m" or "1h30m"');
    return undefined;
  }
  return Math.round(seconds * 1000);
}

/** Reads the tuning annotations; unset keys take upstream's defaults, bad values are errors naming key and rule. */
export function parseTuning(annotations: Readonly<Record<string, string>> | undefined): ParsedTuning {
  const a = annotations ?? {};
  const tuning: AutoscalerTuning = { ...DEFAULT_TUNING };
  const errors = new ProblemList();
  const warnings = new ProblemList();
  for (const { key, field, ok, what } of NUMBER_RULES) {
    const raw = a[key];
    if (raw === undefined) continue;
    const n = raw.trim() === "" ? NaN : Number(raw);
    if (Number.isFinite(n) && ok(n)) tuning[field] = n;
    else errors.add(at(key), raw, "float", `must be ${what}`);
  }
  const up = a[AutoscalingAnnotation.scaleUpCooldownWindow];
  if (up !== undefined)
    tuning.scaleUpCooldownMs =
      parseDurationMs(up, AutoscalingAnnotation.scaleUpCooldownWindow, errors) ?? tuning.scaleUpCooldownMs;
  const down = a[AutoscalingAnnotation.scaleDownCooldownWindow];
  const legacy = a[AutoscalingAnnotation.legacyScaleDownDelay];
  if (down !== undefined) {
    tuning.scaleDownCooldownMs =
      parseDurationMs(down, AutoscalingAnnotation.scaleDownCooldownWindow, errors) ?? tuning.scaleDownCooldownMs;
  }
  if (legacy !== undefined) {
    const legacyMs = parseDurationMs(legacy, AutoscalingAnnotation.legacyScaleDownDelay, errors);
    if (down === undefined && legacyMs !== undefined) tuning.scaleDownCooldownMs = legacyMs;
    warnings.add(
      at(AutoscalingAnnotation.legacyScaleDownDelay),
      legacy,
      "deprecated",
      down === undefined
        ? `legacy key, treated as ${AutoscalingAnnotation.scaleDownCooldownWindow}; rename it`
        : `legacy key, ignored because ${AutoscalingAnnotation.scaleDownCooldownWindow} is also set; remove it`,
    );
  }
  const zero = a[AutoscalingAnnotation.scaleToZero];
  if (zero === "true" || zero === "false") tuning.scaleToZero = zero === "true";
  else if (zero !== undefined)
    errors.add(at(AutoscalingAnnotation.scaleToZero), zero, "bool", 'must be "true" or "false"');
  return { tuning, errors: errors.items, warnings: warnings.items };
}
