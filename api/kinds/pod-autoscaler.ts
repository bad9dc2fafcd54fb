import { Type, type Static } from "@sinclair/typebox";
import { AUTOSCALING_GROUP, AutoscalingAnnotation } from "../labels.js";
import type { KindDefinition } from "../kind.js";
import { joinPath, type ProblemList } from "../problem.js";
import { Condition, Int32, Int64, Obj, ObjectReference, Resource, StringEnum } from "../schema.js";
import { isRecord, parseGoDuration } from "../semantics.js";

export const ScalingStrategies = ["HPA", "KPA", "APA"] as const;
export const MetricSourceTypes = ["pod", "resource", "custom", "external", "domain"] as const;
export const DAYS_OF_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
/** Applied by the controller when unset (never stored). */
export const DEFAULT_OBSERVE_WINDOW_SECONDS = 180;
export const DEFAULT_PANIC_WINDOW_SECONDS = 60;

const HHMM = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

export const MetricSource = Obj({
  metricSourceType: StringEnum(MetricSourceTypes),
  protocolType: Type.Optional(StringEnum(["http", "https"] as const)),
  endpoint: Type.Optional(Type.String({ description: "host[:port] of an external metrics endpoint" })),
  path: Type.Optional(Type.String()),
  port: Type.Optional(Type.String()),
  targetMetric: Type.String({ minLength: 1 }),
  targetValue: Type.String({ minLength: 1, description: "A number greater than 0, as a string." }),
});

export const ScheduleItem = Obj({
  name: Type.String({ pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63 }),
  timezone: Type.Optional(Type.String({ description: "IANA time zone, default UTC" })),
  daysOfWeek: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
  startTime: Type.String({ pattern: HHMM }),
  endTime: Type.String({ pattern: HHMM, description: "Exclusive; must be after startTime (no cross-midnight)." }),
  minReplicas: Type.Optional(Int32({ minimum: 0 })),
  maxReplicas: Type.Optional(Int32({ minimum: 0 })),
});

export const PodAutoscalerSpec = Obj({
  scaleTargetRef: ObjectReference,
  subTargetSelector: Type.Optional(Obj({ roleName: Type.Optional(Type.String()) })),
  minReplicas: Type.Optional(Int32({ minimum: 0 })),
  maxReplicas: Int32({ minimum: 1 }),
  schedules: Type.Optional(Type.Array(ScheduleItem, { minItems: 1 })),
  metricsSources: Type.Array(MetricSource, { minItems: 1 }),
  observeWindowSeconds: Type.Optional(Int64({ minimum: 1, maximum: 3600 })),
  panicWindowSeconds: Type.Optional(Int64({ minimum: 1, maximum: 3600 })),
  scalingStrategy: StringEnum(ScalingStrategies),
});

export const ScalingHistoryItem = Obj({
  timestamp: Type.String({ format: "date-time" }),
  previousScale: Int32(),
  newScale: Int32(),
  reason: Type.String(),
  success: Type.Boolean(),
  error: Type.Optional(Type.String()),
});

export const PodAutoscalerStatus = Obj({
  lastScaleTime: Type.Optional(Type.String({ format: "date-time" })),
  desiredScale: Type.Optional(Int32()),
  actualScale: Type.Optional(Int32()),
  conditions: Type.Optional(Type.Array(Condition)),
  scalingHistory: Type.Optional(Type.Array(ScalingHistoryItem, { maxItems: 5 })),
  scheduledBounds: Type.Optional(
    Obj({
      activeSchedule: Type.Optional(Type.String()),
      effectiveMinReplicas: Int32(),
      effectiveMaxReplicas: Int32(),
    }),
  ),
});

export const PodAutoscalerSchema = Resource(
  `${AUTOSCALING_GROUP}/v1alpha1`,
  "PodAutoscaler",
  PodAutoscalerSpec,
  PodAutoscalerStatus,
  { description: "Scales any target with a /scale subresource from engine metrics (HPA, KPA or APA)." },
);

export type PodAutoscaler = Static<typeof PodAutoscalerSchema>;
export type PodAutoscalerSpec = Static<typeof PodAutoscalerSpec>;
export type MetricSource = Static<typeof MetricSource>;

function isPositiveNumber(text: string): boolean {
  if (!/^[+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text.trim())) return false;
  return Number(text) > 0;
}

function checkMetricSource(src: Record<string, unknown>, at: string, problems: ProblemList): void {
  const type = src.metricSourceType;
  if (typeof src.targetValue === "string" && src.targetValue.length > 0 && !isPositiveNumber(src.targetValue)) {
    problems.add(joinPath(at, "targetValue"), src.targetValue, "positive-number", "must be a number greater than 0");
  }
  const need = (field: string, why: string) => {
    if (src[field] === undefined || src[field] === "") problems.add(joinPath(at, field), src[field], "required", why);
  };
  const forbid = (field: string, why: string) => {
    if (src[field] !== undefined) problems.add(joinPath(at, field), src[field], "forbidden", why);
  };
  if (type === "pod") {
    for (const f of ["protocolType", "port", "path"]) need(f, `required for metricSourceType "pod" (scraped per pod)`);
  } else if (type === "resource") {
    if (src.targetMetric !== "cpu" && src.targetMetric !== "memory" && typeof src.targetMetric === "string") {
      problems.add(
        joinPath(at, "targetMetric"),
        src.targetMetric,
        "enum",
        `must be "cpu" or "memory" for metricSourceType "resource"`,
      );
    }
    for (const f of ["port", "endpoint", "path", "protocolType"]) {
      forbid(f, `not allowed for metricSourceType "resource" (read from metrics.k8s.io)`);
    }
  } else if ((type === "external" || type === "domain") && src.endpoint !== undefined) {
    for (const f of ["protocolType", "path"]) need(f, `required for metricSourceType "${type}" when endpoint is set`);
  }
  if (typeof src.port === "string" && src.port !== "") {
    const port = Number(src.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      problems.add(joinPath(at, "port"), src.port, "port-range", "must be a port number from 1 to 65535");
    }
  }
}

const knownTimeZones = new Map<string, boolean>();

/** Constructing a DateTimeFormat costs ~0.1 ms, so each zone name is checked once per process. */
function isValidTimeZone(tz: string): boolean {
  let valid = knownTimeZones.get(tz);
  if (valid === undefined) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: tz });
      valid = true;
    } catch {
      valid = false;
    }
    if (knownTimeZones.size < 1000) knownTimeZones.set(tz, valid);
  }
  return valid;
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  return (h as number) * 60 + (m as number);
}

function checkSchedules(spec: Record<string, unknown>, problems: ProblemList): void {
  const schedules = spec.schedules;
  if (!Array.isArray(schedules)) return;
  const baseMin = typeof spec.minReplicas === "number" ? spec.minReplicas : 1;
  const baseMax = typeof spec.maxReplicas === "number" ? spec.maxReplicas : undefined;
  const names = new Set<string>();
  const zones = new Set<string>();
  const windows: { days: Set<string>; start: number; end: number; index: number }[] = [];
  schedules.forEach((item: unknown, i) => {
    if (!isRecord(item)) return;
    const at = `spec.schedules[${i}]`;
    if (typeof item.name === "string") {
      if (names.has(item.name)) problems.add(`${at}.name`, item.name, "unique", "schedule names must be unique");
      names.add(item.name);
    }
    const tz = typeof item.timezone === "string" ? item.timezone : "UTC";
    if (!isValidTimeZone(tz))
      problems.add(`${at}.timezone`, item.timezone, "iana-timezone", "must be an IANA time zone such as Europe/Paris");
    zones.add(tz);
    let days: Set<string> = new Set(DAYS_OF_WEEK);
    if (Array.isArray(item.daysOfWeek)) {
      days = new Set();
      item.daysOfWeek.forEach((d: unknown, j) => {
        const key = typeof d === "string" ? d.toLowerCase().slice(0, 3) : "";
        if (typeof d !== "string" || !(DAYS_OF_WEEK as readonly string[]).includes(key) || d.length !== 3) {
          problems.add(`${at}.daysOfWeek[${j}]`, d, "day-of-week", "must be one of Mon, Tue, Wed, Thu, Fri, Sat, Sun");
        } else days.add(key);
      });
    }
    if (item.minReplicas === undefined && item.maxReplicas === undefined) {
      problems.add(at, undefined, "bounds-required", "a schedule must set minReplicas, maxReplicas or both");
    }
    const min = typeof item.minReplicas === "number" ? item.minReplicas : baseMin;
    const max = typeof item.maxReplicas === "number" ? item.maxReplicas : baseMax;
    if (max !== undefined && max <= 0)
      problems.add(`${at}.maxReplicas`, item.maxReplicas, "positive", "effective maxReplicas must be greater than 0");
    if (max !== undefined && min > max) {
      problems.add(
        `${at}.minReplicas`,
        item.minReplicas ?? min,
        "min-le-max",
        `effective minReplicas ${min} must be <= effective maxReplicas ${max}`,
      );
    }
    const hhmm = new RegExp(HHMM);
    if (
      typeof item.startTime === "string" &&
      typeof item.endTime === "string" &&
      hhmm.test(item.startTime) &&
      hhmm.test(item.endTime)
    ) {
      const start = minutes(item.startTime);
      const end = minutes(item.endTime);
      if (start >= end) {
        problems.add(
          `${at}.endTime`,
          item.endTime,
          "end-after-start",
          `must be after startTime ${item.startTime} (windows may not cross midnight)`,
        );
      } else {
        for (const other of windows) {
          const sharesDay = [...days].some((d) => other.days.has(d));
          if (sharesDay && start < other.end && other.start < end) {
            problems.add(at, item.name, "no-overlap", `overlaps spec.schedules[${other.index}] on a shared weekday`);
          }
        }
        windows.push({ days, start, end, index: i });
      }
    }
  });
  if (zones.size > 1)
    problems.add("spec.schedules", [...zones], "single-timezone", "all schedules must use the same timezone");
}

const FLOAT_ANNOTATIONS: { key: string; min: number; minInclusive: boolean; what: string }[] = [
  { key: AutoscalingAnnotation.maxScaleUpRate, min: 1, minInclusive: true, what: "a number >= 1" },
  { key: AutoscalingAnnotation.maxScaleDownRate, min: 1, minInclusive: true, what: "a number >= 1" },
  { key: AutoscalingAnnotation.scaleUpTolerance, min: 0, minInclusive: true, what: "a number >= 0" },
  { key: AutoscalingAnnotation.scaleDownTolerance, min: 0, minInclusive: true, what: "a number >= 0" },
  { key: AutoscalingAnnotation.panicThreshold, min: 1, minInclusive: false, what: "a number > 1" },
];
const DURATION_ANNOTATIONS = [
  AutoscalingAnnotation.scaleUpCooldownWindow,
  AutoscalingAnnotation.scaleDownCooldownWindow,
  AutoscalingAnnotation.legacyScaleDownDelay,
];

function annotationsOf(obj: Record<string, unknown>): Record<string, unknown> {
  const md = obj.metadata;
  return isRecord(md) && isRecord(md.annotations) ? md.annotations : {};
}

function checkAnnotations(obj: Record<string, unknown>, problems: ProblemList): void {
  const annotations = annotationsOf(obj);
  const at = (key: string) => joinPath("metadata.annotations", key);
  for (const { key, min, minInclusive, what } of FLOAT_ANNOTATIONS) {
    const raw = annotations[key];
    if (raw === undefined) continue;
    const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
    if (!Number.isFinite(n) || (minInclusive ? n < min : n <= min))
      problems.add(at(key), raw, "float", `must be ${what}`);
  }
  for (const key of DURATION_ANNOTATIONS) {
    const raw = annotations[key];
    if (raw === undefined) continue;
    if (typeof raw !== "string" || parseGoDuration(raw) === undefined) {
      problems.add(at(key), raw, "duration", 'must be a duration such as "30s", "5m" or "1h30m"');
    }
  }
  const zero = annotations[AutoscalingAnnotation.scaleToZero];
  if (zero !== undefined && zero !== "true" && zero !== "false") {
    problems.add(at(AutoscalingAnnotation.scaleToZero), zero, "bool", 'must be "true" or "false"');
  }
}

export const podAutoscalerKind: KindDefinition = {
  group: AUTOSCALING_GROUP,
  version: "v1alpha1",
  kind: "PodAutoscaler",
  plural: "podautoscalers",
  singular: "podautoscaler",
  shortNames: ["pa"],
  schema: PodAutoscalerSchema,
  printerColumns: [
    { name: "MINPODS", type: "integer", jsonPath: ".spec.minReplicas" },
    { name: "MAXPODS", type: "integer", jsonPath: ".spec.maxReplicas" },
    { name: "REPLICAS", type: "integer", jsonPath: ".status.actualScale" },
    { name: "STRATEGY", type: "string", jsonPath: ".spec.scalingStrategy" },
    { name: "AGE", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
  rules(obj, problems) {
    checkAnnotations(obj, problems);
    const spec = obj.spec;
    if (!isRecord(spec)) return;
    const ref = spec.scaleTargetRef;
    if (isRecord(ref)) {
      for (const f of ["kind", "name"] as const) {
        if (typeof ref[f] !== "string" || ref[f] === "") {
          problems.add(
            `spec.scaleTargetRef.${f}`,
            ref[f],
            "required",
            `scaleTargetRef.${f} names the object to scale and is required`,
          );
        }
      }
    }
    if (
      typeof spec.minReplicas === "number" &&
      typeof spec.maxReplicas === "number" &&
      spec.minReplicas > spec.maxReplicas
    ) {
      problems.add(
        "spec.minReplicas",
        spec.minReplicas,
        "min-le-max",
        `must be <= spec.maxReplicas (${spec.maxReplicas})`,
      );
    }
    if (spec.scalingStrategy === "HPA" && spec.subTargetSelector !== undefined) {
      problems.add(
        "spec.subTargetSelector",
        spec.subTargetSelector,
        "forbidden-with-hpa",
        "subTargetSelector is not supported with scalingStrategy HPA",
      );
    }
    const observe =
      typeof spec.observeWindowSeconds === "number" ? spec.observeWindowSeconds : DEFAULT_OBSERVE_WINDOW_SECONDS;
    const panic = typeof spec.panicWindowSeconds === "number" ? spec.panicWindowSeconds : DEFAULT_PANIC_WINDOW_SECONDS;
    if (panic > observe) {
      const path = spec.panicWindowSeconds !== undefined ? "spec.panicWindowSeconds" : "spec.observeWindowSeconds";
      problems.add(
        path,
        path.endsWith("panicWindowSeconds") ? spec.panicWindowSeconds : spec.observeWindowSeconds,
        "panic-le-observe",
        `panic window (${panic}s) must be <= observe window (${observe}s), defaults included`,
      );
    }
    if (Array.isArray(spec.metricsSources)) {
      spec.metricsSources.forEach((src: unknown, i) => {
        if (isRecord(src)) checkMetricSource(src, `spec.metricsSources[${i}]`, problems);
      });
    }
    checkSchedules(spec, problems);
  },
  warnings(obj, problems) {
    const legacy = annotationsOf(obj)[AutoscalingAnnotation.legacyScaleDownDelay];
    if (legacy !== undefined) {
      problems.add(
        joinPath("metadata.annotations", AutoscalingAnnotation.legacyScaleDownDelay),
        legacy,
        "deprecated",
        `legacy key, treated as ${AutoscalingAnnotation.scaleDownCooldownWindow}; rename it`,
      );
    }
  },
};
