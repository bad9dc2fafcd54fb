import { expect } from "chai";
import { parseTuning } from "../../../../controllers/pod-autoscaler/annotations.js";
import { decideTick, freshMemory } from "../../../../controllers/pod-autoscaler/decide.js";
import {
  countsAsStarting,
  podStanding,
  START_UP_ALLOWANCE_MS,
  type Pod,
} from "../../../../controllers/pod-autoscaler/pods.js";
import { autoscaler, makePod, T0 } from "./world.js";

const WARM_UP_MS = 10_000;

/** A pod created `ageMs` before T0 that has not turned Ready, with the given status parts. */
function loadingPod(name: string, ageMs: number, status: Record<string, unknown> = {}): Pod {
  return {
    metadata: {
      name,
      namespace: "ns",
      labels: { app: "llama" },
      creationTimestamp: new Date(T0 - ageMs).toISOString(),
    },
    status: {
      phase: "Pending",
      conditions: [{ type: "Ready", status: "False" }],
      ...status,
    },
  } as Pod;
}

describe("pod-autoscaler pod standing", () => {
  it("counts a pod loading within the start-up allowance as starting, not as capacity", () => {
    const s = podStanding(loadingPod("a", 60_000), T0, WARM_UP_MS);
    expect(s.ready).to.equal(false);
    expect(s.startingUp).to.equal(true);
    expect(countsAsStarting(s)).to.equal(true);
  });

  it("stops counting a pod that has not turned Ready within the allowance (a Deployment's progress deadline)", () => {
    expect(podStanding(loadingPod("a", START_UP_ALLOWANCE_MS - 1_000), T0, WARM_UP_MS).startingUp).to.equal(true);
    expect(podStanding(loadingPod("a", START_UP_ALLOWANCE_MS), T0, WARM_UP_MS).startingUp).to.equal(false);
  });

  it("does not count pods that cannot start: unschedulable, crashing, image errors, failed, terminating", () => {
    const stuck = [
      loadingPod("u", 1_000, {
        conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable" }],
      }),
      loadingPod("c", 1_000, {
        phase: "Running",
        containerStatuses: [{ restartCount: 3, state: { waiting: { reason: "CrashLoopBackOff" } } }],
      }),
      loadingPod("r", 1_000, { phase: "Running", containerStatuses: [{ restartCount: 1, state: { running: {} } }] }),
      loadingPod("i", 1_000, {
        containerStatuses: [{ restartCount: 0, state: { waiting: { reason: "ErrImagePull" } } }],
      }),
      loadingPod("f", 1_000, { phase: "Failed" }),
      { ...loadingPod("t", 1_000), metadata: { ...loadingPod("t", 1_000).metadata, deletionTimestamp: "x" } },
    ];
    for (const pod of stuck) {
      const s = podStanding(pod, T0, WARM_UP_MS);
      expect(countsAsStarting(s), pod.metadata?.name).to.equal(false);
    }
  });

  it("counts a Ready pod still warming up as starting, and a warmed-up one as capacity only", () => {
    const warming = podStanding(makePod("w", "llama", { readyAt: T0 - 1_000 }), T0, WARM_UP_MS);
    expect(warming.warmingUp).to.equal(true);
    expect(countsAsStarting(warming)).to.equal(true);
    const serving = podStanding(makePod("s", "llama"), T0, WARM_UP_MS);
    expect(countsAsStarting(serving)).to.equal(false);
  });
});

describe("pod-autoscaler tick with pods still loading", () => {
  const pa = autoscaler("pa", { observeWindowSeconds: 60, panicWindowSeconds: 10 });
  const { tuning } = parseTuning(pa.metadata?.annotations);

  /** One tick with one Ready pod carrying `waiting` requests and one more pod created `ageMs` ago, not Ready. */
  function tick(ageMs: number, waiting: number) {
    const pods = [makePod("ready", "llama"), loadingPod("loading", ageMs)];
    return decideTick({
      pa,
      tuning,
      nowMs: T0,
      replicas: 2,
      pods: pods.map((p) => podStanding(p, T0, WARM_UP_MS)),
      readings: [{ kind: "pods", values: new Map([["ready", waiting]]) }],
      memory: freshMemory(pa),
    });
  }

  it("doubles from both pods at the default rate 2 while the second loads (from the Ready one alone: held at 2)", () => {
    expect(tick(60_000, 40).desired).to.equal(4);
  });

  it("falls back to the Ready pods once the loading pod is past the allowance", () => {
    expect(tick(START_UP_ALLOWANCE_MS + 1_000, 40).desired).to.equal(2);
  });
});
