// Saturation from live engine metrics: once the engine's queue is deeper than the threshold, sheddable requests are
// refused with 429 while critical ones wait in the fair queue and are served when the engine drains.
import { expect } from "chai";
import { pino } from "pino";
import { createFlowControl } from "../../../../router/flow-control/index.js";
import { StaticDiscovery } from "../../../../router/discovery/static.js";
import { startRouter, type Router } from "../../../../router/server.js";
import { startSimulator, type RunningSimulator } from "../../../../simulator/index.js";

const silent = pino({ level: "silent" });

describe("saturation-based shedding through the router", function () {
  this.timeout(60_000);
  let sim: RunningSimulator;
  let router: Router;

  before(async () => {
    sim = await startSimulator({ model: "slow", speedup: 4, maxNumSeqs: 1 });
    const flowControl = await createFlowControl({
      logger: silent,
      saturation: { queueDepth: 2 },
      metricsIntervalMs: 50,
    });
    router = await startRouter({
      port: 0,
      logger: silent,
      accessLog: false,
      scrapeIntervalMs: 25,
      flowControl: flowControl.control,
      discovery: new StaticDiscovery([
        { id: `${sim.host}:${sim.port}`, host: sim.host, port: sim.port, model: "slow", adapters: [], engine: "vllm" },
      ]),
    });
  });
  after(async () => {
    await router?.close();
    await sim?.close();
  });

  const chat = async (priority: string, maxTokens: number) => {
    const res = await fetch(`${router.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", priority },
      body: JSON.stringify({ model: "slow", messages: [{ role: "user", content: "hi" }], max_tokens: maxTokens }),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as { error?: { message: string } } };
  };

  it("sheds sheddable requests first and still serves critical ones", async () => {
    // Fill the engine: one running, the rest waiting in its queue (deeper than the threshold of 2).
    const fill = Array.from({ length: 6 }, () => chat("standard", 64));
    // Probe with sheddable requests every 30 ms (not waiting for each: admitted ones queue behind the fill).
    const probes: Array<ReturnType<typeof chat>> = [];
    let critical: ReturnType<typeof chat> | undefined;
    for (let i = 0; i < 40; i++) {
      if (i === 10) critical = chat("critical", 1); // sent while the engine is saturated: waits, is not shed
      probes.push(chat("sheddable", 1));
      await new Promise((r) => setTimeout(r, 30));
    }
    const results = await Promise.all(probes);
    const shed = results.find((r) => r.status === 429);
    expect(shed, "a sheddable request was refused once the engine queue was deep").to.not.equal(undefined);
    expect(results.every((r) => r.status === 200 || r.status === 429)).to.equal(true);
    expect(shed!.headers.get("x-ratelimit-exceeded")).to.equal("saturation");
    expect(shed!.body.error!.message).to.include("sheddable");
    expect((await critical!).status).to.equal(200);
    expect((await Promise.all(fill)).map((r) => r.status)).to.deep.equal([200, 200, 200, 200, 200, 200]);
  });
});
