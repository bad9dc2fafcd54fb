import { expect } from "chai";
import fc from "fast-check";
import {
  newReplicaSetTarget,
  oldReplicaSetTargets,
  proportionalTargets,
  recreateTargets,
  resolveIntOrPercent,
  rollingParams,
  type ReplicaSetCounts,
} from "../../../../controllers/fleet/rollout.js";

describe("fleet rollout planner", () => {
  describe("maxSurge and maxUnavailable", () => {
    it("rounds a percentage up for maxSurge and down for maxUnavailable, as the Deployment controller", () => {
      expect(rollingParams(10, { maxSurge: "25%", maxUnavailable: "25%" })).to.deep.equal({
        maxSurge: 3,
        maxUnavailable: 2,
      });
      expect(rollingParams(3, undefined)).to.deep.equal({ maxSurge: 1, maxUnavailable: 0 });
      expect(rollingParams(5, { maxSurge: 2, maxUnavailable: "40%" })).to.deep.equal({
        maxSurge: 2,
        maxUnavailable: 2,
      });
    });

    it("turns 0/0 (which could never progress) into maxUnavailable 1, and caps maxUnavailable at replicas", () => {
      expect(rollingParams(4, { maxSurge: 0, maxUnavailable: "10%" })).to.deep.equal({
        maxSurge: 0,
        maxUnavailable: 1,
      });
      expect(rollingParams(2, { maxSurge: 1, maxUnavailable: 7 })).to.deep.equal({ maxSurge: 1, maxUnavailable: 2 });
    });

    it("takes the fallback for an unset value", () => {
      expect(resolveIntOrPercent(undefined, 8, true, "25%")).to.equal(2);
      expect(resolveIntOrPercent("50%", 3, true, "25%")).to.equal(2);
      expect(resolveIntOrPercent("50%", 3, false, "25%")).to.equal(1);
    });
  });

  describe("one step", () => {
    const old = (replicas: number, available = replicas): ReplicaSetCounts => ({ name: "old", replicas, available });
    it("surges the new replica set up to replicas + maxSurge", () => {
      const p = { maxSurge: 1, maxUnavailable: 0 };
      expect(newReplicaSetTarget(3, p, { name: "new", replicas: 0, available: 0 }, [old(3)])).to.equal(1);
      expect(newReplicaSetTarget(3, p, { name: "new", replicas: 1, available: 0 }, [old(3)])).to.equal(1);
      expect(newReplicaSetTarget(3, p, { name: "new", replicas: 5, available: 0 }, [])).to.equal(3);
    });

    it("scales old ones down only as far as new available clusters make up for them", () => {
      const p = { maxSurge: 1, maxUnavailable: 0 };
      expect(oldReplicaSetTargets(3, p, { name: "new", replicas: 1, available: 0 }, [old(3)]).get("old")).to.equal(3);
      expect(oldReplicaSetTargets(3, p, { name: "new", replicas: 1, available: 1 }, [old(3)]).get("old")).to.equal(2);
    });

    it("removes unavailable old clusters first, within the budget of clusters above the floor", () => {
      const p = { maxSurge: 0, maxUnavailable: 1 };
      // 4 asked, floor 3: one cluster may go, and an unavailable one goes (it costs no availability).
      expect(oldReplicaSetTargets(4, p, { name: "new", replicas: 0, available: 0 }, [old(4, 2)]).get("old")).to.equal(
        3,
      );
      // With surge room (new asked 2, 4 old of which 1 unavailable): the unavailable one, then available ones
      // down to the floor (3 available needed; new has 2).
      const got = oldReplicaSetTargets(
        4,
        { maxSurge: 2, maxUnavailable: 1 },
        { name: "new", replicas: 2, available: 2 },
        [old(4, 3)],
      );
      expect(got.get("old")).to.equal(1);
    });

    it("Recreate scales the new replica set up only once every old cluster is gone", () => {
      const sets = [old(3)];
      expect(recreateTargets(3, undefined, sets, 3)).to.deep.include({ newReplicas: 0 });
      expect(recreateTargets(3, undefined, [old(0)], 1).newReplicas).to.equal(0);
      expect(recreateTargets(3, undefined, [old(0)], 0).newReplicas).to.equal(3);
    });

    it("shares a mid-rollout scale-up in proportion (10 → 20 with 8 old and 5 new sized for 13)", () => {
      const got = proportionalTargets(
        20,
        rollingParams(20, { maxSurge: "25%", maxUnavailable: "25%" }),
        [
          { name: "old", replicas: 8, available: 8, annotatedMaxReplicas: 13, createdAt: "2026-01-01T00:00:00Z" },
          { name: "new", replicas: 5, available: 0, annotatedMaxReplicas: 13, createdAt: "2026-01-02T00:00:00Z" },
        ],
        13,
      );
      expect(Object.fromEntries(got)).to.deep.equal({ old: 15, new: 10 });
    });

    it("scales everything to zero when the fleet goes to zero", () => {
      const got = proportionalTargets(
        0,
        { maxSurge: 0, maxUnavailable: 0 },
        [
          { name: "a", replicas: 2, available: 2, annotatedMaxReplicas: 4, createdAt: "1" },
          { name: "b", replicas: 2, available: 0, annotatedMaxReplicas: 4, createdAt: "2" },
        ],
        4,
      );
      expect(Object.fromEntries(got)).to.deep.equal({ a: 0, b: 0 });
    });
  });

  describe("a whole rolling update (property)", () => {
    const intOrPercent = fc.oneof(
      fc.integer({ min: 0, max: 6 }),
      fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`),
    );
    it("never runs more than replicas + maxSurge clusters, never fewer than replicas − maxUnavailable available, and finishes", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 12 }),
          intOrPercent,
          intOrPercent,
          fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
          fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })),
          (replicas, maxSurge, maxUnavailable, oldShares, luck) => {
            const params = rollingParams(replicas, { maxSurge, maxUnavailable });
            // Steady state of earlier revisions: `replicas` available clusters split among the old sets.
            const total = oldShares.reduce((a, b) => a + b, 0);
            const oldSets: ReplicaSetCounts[] = oldShares.map((s, i) => ({
              name: `old${i}`,
              replicas: 0,
              available: 0,
            }));
            for (let i = 0; i < replicas; i++) oldSets[Math.floor((i * total) / replicas) % oldSets.length]!.replicas++;
            for (const s of oldSets) s.available = s.replicas;
            const newSet: ReplicaSetCounts = { name: "new", replicas: 0, available: 0 };
            const floor = replicas - params.maxUnavailable;
            const ceiling = replicas + params.maxSurge;
            const luckIt = luck[Symbol.iterator]();
            for (let step = 0; step < 400; step++) {
              // The controller's pass: scale the new set up, or else the old ones down.
              const up = newReplicaSetTarget(replicas, params, newSet, oldSets);
              if (up !== newSet.replicas) newSet.replicas = up;
              else {
                const targets = oldReplicaSetTargets(replicas, params, newSet, oldSets);
                for (const s of oldSets) {
                  s.replicas = targets.get(s.name)!;
                  s.available = Math.min(s.available, s.replicas); // victims: unavailable first
                }
              }
              const running = newSet.replicas + oldSets.reduce((n, s) => n + s.replicas, 0);
              const available = newSet.available + oldSets.reduce((n, s) => n + s.available, 0);
              expect(running, `step ${step}: clusters`).to.be.at.most(ceiling);
              expect(available, `step ${step}: available`).to.be.at.least(floor);
              if (newSet.available === replicas && oldSets.every((s) => s.replicas === 0)) return;
              // The world: some of the new set's clusters become available.
              const pending = newSet.replicas - newSet.available;
              newSet.available += Math.round(pending * (luckIt.next().value as number));
              if (newSet.available < newSet.replicas && (luckIt.next().value as number) < 0.3) newSet.available++;
            }
            expect.fail("the rollout did not finish in 400 passes");
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});
