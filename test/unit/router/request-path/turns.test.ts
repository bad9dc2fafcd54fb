import { expect } from "chai";
import { Turns } from "../../../../router/request-path/turns.js";

describe("router: large-request steps take turns", () => {
  it("runs steps queued together in separate turns of the event loop, other work between them", async () => {
    const turns = new Turns();
    const order: string[] = [];
    const a = turns.turn().then(() => order.push("a"));
    const b = turns.turn().then(() => order.push("b"));
    const c = turns.turn().then(() => order.push("c"));
    // Queued after the steps: a step-free turn of the loop would run it after all three.
    setImmediate(() => order.push("other"));
    await Promise.all([a, b, c]);
    expect(order).to.deep.equal(["a", "other", "b", "c"]);
    // An idle queue starts again on the next call.
    await turns.turn();
  });
});
