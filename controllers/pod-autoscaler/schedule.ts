// Scheduled bounds: which schedule is active at an instant, in its IANA time zone, and when that next changes.
// Wall-clock fields come from Intl, so daylight-saving shifts are the platform's tz database's, not arithmetic here.

export interface ScheduleWindow {
  name: string;
  timezone?: string;
  /** Mon…Sun, case-insensitive; absent means every day. */
  daysOfWeek?: readonly string[];
  /** HH:MM local, inclusive. */
  startTime: string;
  /** HH:MM local, exclusive. */
  endTime: string;
  minReplicas?: number;
  maxReplicas?: number;
}

export interface ResolvedBounds {
  activeSchedule: string | undefined;
  min: number;
  max: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      weekday: "short",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

interface WallClock {
  day: string;
  minuteOfDay: number;
  /** The wall-clock reading as if it were UTC, in ms; its difference from the instant is the zone's offset. */
  asUtcMs: number;
}

export function wallClock(atMs: number, timeZone: string): WallClock {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(atMs))) parts[p.type] = p.value;
  const n = (k: string) => Number(parts[k]);
  return {
    day: (parts.weekday ?? "").toLowerCase().slice(0, 3),
    minuteOfDay: n("hour") * 60 + n("minute"),
    asUtcMs: Date.UTC(n("year"), n("month") - 1, n("day"), n("hour"), n("minute"), n("second")),
  };
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  return (h as number) * 60 + (m as number);
}

function isActive(s: ScheduleWindow, atMs: number): boolean {
  const local = wallClock(atMs, s.timezone ?? "UTC");
  const days = s.daysOfWeek?.map((d) => d.toLowerCase().slice(0, 3));
  if (days && !days.includes(local.day)) return false;
  return local.minuteOfDay >= minutes(s.startTime) && local.minuteOfDay < minutes(s.endTime);
}

/** The bounds in force at `atMs`: the active schedule's (its unset side inherits the base), else the base. */
export function resolveBounds(
  base: { min: number; max: number },
  schedules: readonly ScheduleWindow[],
  atMs: number,
): ResolvedBounds {
  const active = schedules.find((s) => isActive(s, atMs));
  if (!active) return { activeSchedule: undefined, ...base };
  return { activeSchedule: active.name, min: active.minReplicas ?? base.min, max: active.maxReplicas ?? base.max };
}

/** The instant a local wall-clock minute occurs (in a spring-forward gap, one of the instants around it). */
function instantOf(localMidnightUtcMs: number, minuteOfDay: number, timeZone: string): number {
  const wall = localMidnightUtcMs + minuteOfDay * 60_000;
  let guess = wall;
  for (let i = 0; i < 3; i++) guess = wall - (wallClock(guess, timeZone).asUtcMs - guess);
  return guess;
}

/** The first instant after `atMs` (within eight days) at which the resolved bounds change, for an early requeue. */
export function nextTransition(
  base: { min: number; max: number },
  schedules: readonly ScheduleWindow[],
  atMs: number,
): number | undefined {
  if (schedules.length === 0) return undefined;
  const now = resolveBounds(base, schedules, atMs);
  const candidates: number[] = [];
  for (const s of schedules) {
    const tz = s.timezone ?? "UTC";
    const local = wallClock(atMs, tz);
    const todayMidnight = local.asUtcMs - (local.asUtcMs % 86_400_000);
    for (let d = 0; d <= 8; d++) {
      for (const hhmm of [s.startTime, s.endTime]) {
        const t = instantOf(todayMidnight + d * 86_400_000, minutes(hhmm), tz);
        if (t > atMs) candidates.push(t);
      }
    }
  }
  candidates.sort((a, b) => a - b);
  const same = (r: ResolvedBounds) => r.activeSchedule === now.activeSchedule && r.min === now.min && r.max === now.max;
  let previous = atMs;
  for (const t of candidates) {
    if (!same(resolveBounds(base, schedules, t)))
      return firstChange(previous, t, (x) => same(resolveBounds(base, schedules, x)));
    previous = t;
  }
  return undefined;
}

/**
 * The earliest whole minute in (from, to] where `unchanged` turns false, given it is false at `to`. Needed when a
 * boundary falls in a spring-forward gap: the change happens where the clock jumps, before the mapped instant.
 */
function firstChange(fromMs: number, toMs: number, unchanged: (atMs: number) => boolean): number {
  let lo = Math.floor(fromMs / 60_000);
  let hi = Math.ceil(toMs / 60_000);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (unchanged(mid * 60_000)) lo = mid;
    else hi = mid;
  }
  return Math.min(hi * 60_000, toMs);
}
