import { expect } from "chai";
import { Histogram, Registry } from "prom-client";
import { FastHistogram } from "../../../simulator/fast-histogram.js";

describe("simulator FastHistogram", () => {
  it("renders exactly as prom-client's Histogram for the same observations", async () => {
    const buckets = [0.01, 0.1, 1];
    const values = [0.005, 0.01, 0.05, 0.5, 2, 0.1];
    const a = new Registry();
    const slow = new Histogram({ name: "h", help: "x", labelNames: ["model_name"], buckets, registers: [a] });
    for (const v of values) slow.observe({ model_name: "m" }, v);
    const b = new Registry();
    const fast = new FastHistogram({ name: "h", help: "x", buckets, labels: { model_name: "m" }, registry: b });
    for (const v of values) fast.observe(v);
    expect(await b.metrics()).to.equal(await a.metrics());
    expect(await b.metrics()).to.include('h_bucket{le="0.1",model_name="m"} 4');
  });
});
