import { expect } from "chai";
import fc from "fast-check";
import { MapEvictor } from "../../../api/map-evictor.js";

describe("MapEvictor", () => {
  it("evicts in insertion order, a deleted and re-set key counting as new, and sees keys set after it started", () => {
    const map = new Map([
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ]);
    const evictor = new MapEvictor(map);
    expect(evictor.evictOldest()).to.deep.equal(["a", 1]);
    map.delete("b");
    map.set("b", 20);
    map.set("d", 4);
    expect([evictor.evictOldest(), evictor.evictOldest(), evictor.evictOldest()]).to.deep.equal([
      ["c", 3],
      ["b", 20],
      ["d", 4],
    ]);
    expect(map.size).to.equal(0);
  });

  it("answers undefined on an empty map, and starts again when entries come after that", () => {
    const map = new Map<string, number>();
    const evictor = new MapEvictor(map);
    expect(evictor.evictOldest()).to.equal(undefined);
    map.set("x", 1);
    expect(evictor.evictOldest()).to.deep.equal(["x", 1]);
    expect(evictor.evictOldest()).to.equal(undefined);
    map.set("y", 2);
    expect(evictor.evictOldest()).to.deep.equal(["y", 2]);
  });

  it("evicts exactly what a fresh iterator would, over any mix of sets, refreshes, deletes, clears and evictions", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant("refresh" as const), key: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant("clear" as const) }),
      fc.record({ kind: fc.constant("evict" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const map = new Map<number, number>();
        const evictor = new MapEvictor(map);
        ops.forEach((o, i) => {
          if (o.kind === "set") map.set(o.key, i);
          else if (o.kind === "refresh") map.delete(o.key) && map.set(o.key, i);
          else if (o.kind === "delete") map.delete(o.key);
          else if (o.kind === "clear") map.clear();
          else {
            const expected = map.entries().next().value;
            expect(evictor.evictOldest()).to.deep.equal(expected);
          }
        });
      }),
    );
  });
});
