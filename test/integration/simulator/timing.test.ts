import { expect } from "chai";
import { startSimulator } from "../../../simulator/index.js";
import { getCalibration } from "../../../simulator/calibrations.js";
import { attentionPairs } from "../../../simulator/step-cost.js";

describe("simulator timing in (scaled) real time", function () {
  this.timeout(20000);

  it("streams at the calibration's pace: wall time = simulated time / speedup, metrics in simulated seconds", async () => {
    const speedup = 5;
    const sim = await startSimulator({ model: "m", calibration: "h100-8b", speedup });
    try {
      const c = getCalibration("h100-8b").coefficients;
      const promptIds = Array.from({ length: 2048 }, (_, i) => 1000 + i);
      const out = 50;
      const expectedTtft = c.b0.value + c.b1.value * 2048 + (c.b4?.value ?? 0) * attentionPairs(0, 2048);
      const itl = (ctx: number) => c.b0.value + c.b2.value + c.b3.value * ctx;
      let expectedE2e = expectedTtft;
      for (let i = 1; i < out; i++) expectedE2e += itl(2048 + i);
      const t0 = performance.now();
      const res = await fetch(`${sim.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", prompt: promptIds, max_tokens: out, stream: true }),
      });
      const reader = res.body!.getReader();
      let firstAt = 0;
      let text = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!firstAt) firstAt = performance.now() - t0;
        text += new TextDecoder().decode(value);
      }
      const wall = performance.now() - t0;
      expect(text.match(/"text":/g)).to.have.length(out);
      // Never faster than the model (small allowance for timer granularity), and not wildly slower.
      expect(wall).to.be.greaterThan(((expectedE2e * 1000) / speedup) * 0.9);
      expect(firstAt).to.be.greaterThan(((expectedTtft * 1000) / speedup) * 0.8);
      const metrics = await sim.metricsText();
      const e2e = Number(metrics.match(/vllm:e2e_request_latency_seconds_sum\{[^}]*\} ([\d.e-]+)/)![1]);
      const ttft = Number(metrics.match(/vllm:time_to_first_token_seconds_sum\{[^}]*\} ([\d.e-]+)/)![1]);
      expect(ttft).to.be.closeTo(expectedTtft, 0.002);
      expect(e2e).to.be.closeTo(expectedE2e, expectedE2e * 0.02);
    } finally {
      await sim.close();
    }
  });
});
