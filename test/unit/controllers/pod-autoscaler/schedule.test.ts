import { expect } from "chai";
import fc from "fast-check";
import { nextTransition, resolveBounds, type ScheduleWindow } from "../../../../controllers/pod-autoscaler/schedule.js";

const base = { min: 1, max: 10 };
const at = (iso: string) => Date.parse(iso);

describe("pod-autoscaler scheduled bounds", () => {
  const business: ScheduleWindow = {
    name: "business",
    timezone: "Asia/Tokyo",
    daysOfWeek: ["Mon", "tue", "WED", "Thu", "Fri"],
    startTime: "09:00",
    endTime: "18:00",
    minReplicas: 4,
  };

  it("resolves in the schedule's own time zone", () => {
    // Monday 2026-03-02 00:30 UTC is 09:30 in Tokyo: active there, though it is still the night before in UTC.
    expect(resolveBounds(base, [business], at("2026-03-02T00:30:00Z"))).to.deep.equal({
      activeSchedule: "business",
      min: 4,
      max: 10,
    });
    // 09:00 UTC is 18:00 in Tokyo: the end is exclusive.
    expect(resolveBounds(base, [business], at("2026-03-02T09:00:00Z")).activeSchedule).to.equal(undefined);
    expect(resolveBounds(base, [business], at("2026-03-02T08:59:00Z")).activeSchedule).to.equal("business");
  });

  it("honours the day list in local days (Saturday morning in Tokyo is Friday in UTC)", () => {
    expect(resolveBounds(base, [business], at("2026-03-07T00:30:00Z")).activeSchedule).to.equal(undefined);
    expect(resolveBounds(base, [business], at("2026-03-06T00:30:00Z")).activeSchedule).to.equal("business");
  });

  it("inherits the unset side from the base bounds", () => {
    const capped: ScheduleWindow = { name: "cap", startTime: "00:00", endTime: "06:00", maxReplicas: 3 };
    expect(resolveBounds(base, [capped], at("2026-03-02T01:00:00Z"))).to.deep.equal({
      activeSchedule: "cap",
      min: 1,
      max: 3,
    });
  });

  it("keeps local times across a spring-forward DST change (New York, 2026-03-08)", () => {
    const morning: ScheduleWindow = {
      name: "morning",
      timezone: "America/New_York",
      startTime: "08:00",
      endTime: "09:00",
      minReplicas: 5,
    };
    // 08:00 EST = 13:00 UTC on Saturday; 08:00 EDT = 12:00 UTC on Sunday.
    expect(resolveBounds(base, [morning], at("2026-03-07T13:00:00Z")).activeSchedule).to.equal("morning");
    expect(resolveBounds(base, [morning], at("2026-03-08T12:00:00Z")).activeSchedule).to.equal("morning");
    expect(resolveBounds(base, [morning], at("2026-03-08T11:59:00Z")).activeSchedule).to.equal(undefined);
    expect(nextTransition(base, [morning], at("2026-03-08T00:00:00Z"))).to.equal(at("2026-03-08T12:00:00Z"));
  });

  it("starts a schedule whose start falls in the spring-forward gap where the clock jumps", () => {
    const night: ScheduleWindow = {
      name: "night",
      timezone: "America/New_York",
      startTime: "02:30",
      endTime: "04:00",
      minReplicas: 3,
    };
    // 02:00 EST jumps to 03:00 EDT at 07:00 UTC; 02:30 never happens that day.
    expect(nextTransition(base, [night], at("2026-03-08T05:00:00Z"))).to.equal(at("2026-03-08T07:00:00Z"));
    expect(resolveBounds(base, [night], at("2026-03-08T07:00:00Z")).activeSchedule).to.equal("night");
  });

  it("starts at the first occurrence of a repeated hour on a fall-back day (Paris, 2026-10-25)", () => {
    const early: ScheduleWindow = {
      name: "early",
      timezone: "Europe/Paris",
      startTime: "02:30",
      endTime: "05:00",
      minReplicas: 2,
    };
    // 02:30 CEST = 00:30 UTC (the first 02:30 that night).
    expect(nextTransition(base, [early], at("2026-10-24T22:00:00Z"))).to.equal(at("2026-10-25T00:30:00Z"));
    // 05:00 CET = 04:00 UTC: the window lasts 3.5 hours that night.
    expect(nextTransition(base, [early], at("2026-10-25T00:30:00Z"))).to.equal(at("2026-10-25T04:00:00Z"));
  });

  it("finds the next start across a weekend and gives nothing without schedules", () => {
    // Friday 2026-03-06 10:00 UTC is 19:00 Tokyo: next start is Monday 09:00 Tokyo = Monday 00:00 UTC.
    expect(nextTransition(base, [business], at("2026-03-06T10:00:00Z"))).to.equal(at("2026-03-09T00:00:00Z"));
    expect(nextTransition(base, [], at("2026-03-06T10:00:00Z"))).to.equal(undefined);
  });

  it("property: the bounds just before the next transition equal the bounds now, and differ at it", () => {
    const zones = ["UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Sydney", "America/Santiago"];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: 0, max: 22 }),
        fc.integer({ min: 1, max: 23 }),
        fc.integer({ min: at("2026-01-01T00:00:00Z"), max: at("2027-01-01T00:00:00Z") }),
        (timezone, startHour, length, nowMs) => {
          const end = Math.min(23, startHour + length);
          fc.pre(end > startHour);
          const hh = (h: number) => `${String(h).padStart(2, "0")}:00`;
          const s: ScheduleWindow[] = [
            { name: "s", timezone, startTime: hh(startHour), endTime: hh(end), minReplicas: 5 },
          ];
          const now = resolveBounds(base, s, nowMs);
          const next = nextTransition(base, s, nowMs);
          expect(next).to.be.a("number");
          expect(next!).to.be.greaterThan(nowMs);
          expect(resolveBounds(base, s, next!).activeSchedule).to.not.equal(now.activeSchedule);
          expect(resolveBounds(base, s, Math.max(nowMs, next! - 60_000)).activeSchedule).to.equal(now.activeSchedule);
        },
      ),
      { numRuns: 200 },
    );
  });
});
