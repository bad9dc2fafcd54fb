import { expect } from "chai";
import { startSimulator, type RunningSimulator } from "../../../simulator/index.js";

async function complete(sim: RunningSimulator, headers: Record<string, string> = {}, signal?: AbortSignal) {
  const res = await fetch(`${sim.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "m", prompt: "hello", max_tokens: 4 }),
    signal,
  });
  return { status: res.status, body: (await res.json()) as { error?: { message: string } } };
}

async function admin(sim: RunningSimulator, body: unknown) {
  const res = await fetch(`${sim.url}/admin/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { message: string } } };
}

describe("simulator fault injection", function () {
  this.timeout(20000);
  let sim: RunningSimulator;
  beforeEach(async () => {
    sim = await startSimulator({ model: "m", speedup: 20 });
  });
  afterEach(async () => sim.close());

  it("forces an error status or a delay per request by header", async () => {
    const r = await complete(sim, { "x-simulator-error": "503" });
    expect(r.status).to.equal(503);
    expect(r.body.error?.message).to.equal("Injected error");
    const bad = await complete(sim, { "x-simulator-error": "abc" });
    expect(bad.status).to.equal(400);
    expect(bad.body.error?.message).to.match(/x-simulator-error: "abc" must be an HTTP error status/);
    const t0 = performance.now();
    // 4,000 simulated ms at 20x = 200 wall ms.
    expect((await complete(sim, { "x-simulator-delay-ms": "4000" })).status).to.equal(200);
    expect(performance.now() - t0).to.be.greaterThan(180);
  });

  it("applies an error rate, a metric override and a slowdown at runtime", async () => {
    expect((await admin(sim, { errorRate: 1, errorStatus: 502 })).status).to.equal(200);
    expect((await complete(sim)).status).to.equal(502);
    await admin(sim, { errorRate: 0, metricOverrides: { "vllm:num_requests_waiting": 42 } });
    expect((await complete(sim)).status).to.equal(200);
    const text = await sim.metricsText();
    expect(text).to.match(/vllm:num_requests_waiting\{model_name="m"\} 42/);
    await admin(sim, { metricOverrides: { "vllm:num_requests_waiting": null } });
    expect(await sim.metricsText()).to.match(/vllm:num_requests_waiting\{model_name="m"\} 0/);
    const e2e = (t: string) => Number(t.match(/vllm:e2e_request_latency_seconds_sum\{[^}]*\} ([\d.e-]+)/)![1]);
    const before = e2e(await sim.metricsText());
    await complete(sim);
    const normal = e2e(await sim.metricsText()) - before;
    sim.setFaults({ slowdown: 5 });
    await complete(sim);
    const slow = e2e(await sim.metricsText()) - before - normal;
    expect(slow / normal).to.be.closeTo(5, 0.6);
  });

  it("rejects bad fault settings naming the field and rule", async () => {
    const r = await admin(sim, { errorRate: 2 });
    expect(r.status).to.equal(400);
    expect(r.body.error?.message).to.equal("errorRate: 2 must be a number from 0 to 1");
    const u = await admin(sim, { explode: true });
    expect(u.body.error?.message).to.match(/^explode: unknown fault setting/);
  });

  it("hangs requests and health until released", async () => {
    sim.setFaults({ hang: true });
    const ac = new AbortController();
    const pending = complete(sim, {}, ac.signal).then(
      () => "answered",
      () => "aborted",
    );
    const health = fetch(`${sim.url}/health`, { signal: AbortSignal.timeout(300) }).then(
      () => "answered",
      () => "timed out",
    );
    expect(await health).to.equal("timed out");
    setTimeout(() => ac.abort(), 100);
    expect(await pending).to.equal("aborted");
    sim.setFaults({ hang: false });
    expect((await complete(sim)).status).to.equal(200);
  });

  it("a hang in the middle of a stream stalls it, and it completes once released", async () => {
    const res = await fetch(`${sim.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", prompt: "long one", max_tokens: 300, stream: true }),
    });
    const reader = res.body!.getReader();
    await reader.read(); // streaming has started
    sim.setFaults({ hang: true });
    const stalledAt = sim.stats();
    await new Promise((r) => setTimeout(r, 150));
    expect(sim.stats().running).to.equal(stalledAt.running);
    sim.setFaults({ hang: false });
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).to.include("data: [DONE]");
    expect(sim.stats().running).to.equal(0);
  });

  it("crashes: the server stops and the crash hook gets the exit code", async () => {
    let code = -1;
    const crashing = await startSimulator({ model: "m", speedup: 20, onCrash: (c) => (code = c) });
    const r = await admin(crashing, { crash: true, crashExitCode: 3 });
    expect(r.status).to.equal(200);
    await new Promise((res) => setTimeout(res, 200));
    expect(code).to.equal(3);
    const after = await fetch(`${crashing.url}/health`).then(
      () => "answered",
      () => "refused",
    );
    expect(after).to.equal("refused");
  });
});
