// Fault handling against real simulated engines: one engine killed mid-stream, one hanging, one answering 500s.
// Clients get prompt, clear outcomes and the rest of the traffic is unaffected.
import { expect } from "chai";
import OpenAI from "openai";
import { StaticDiscovery, toEndpointSpec } from "../../../router/discovery/static.js";
import { startRouter, type Router } from "../../../router/server.js";
import { endpointEntry, startSimulator, type RunningSimulator } from "../../../simulator/index.js";

const MODEL = "llama-3-8b";

describe("router fault handling with simulated engines", function () {
  this.timeout(60000);
  let sims: RunningSimulator[] = [];
  let router: Router;
  let client: OpenAI;

  beforeEach(async () => {
    sims = await Promise.all(
      [0, 1, 2].map(() => startSimulator({ model: MODEL, calibration: "h100-8b", speedup: 20 })),
    );
    router = await startRouter({
      port: 0,
      logLevel: "silent",
      defaultStrategy: "random",
      scrapeIntervalMs: 50,
      timeouts: { firstByteMs: 1500, idleMs: 1500 },
      ejection: { consecutiveFailures: 2, baseCooldownMs: 5000 },
      discovery: new StaticDiscovery(sims.map((s) => toEndpointSpec(endpointEntry(s), "simulator"))),
    });
    client = new OpenAI({ baseURL: router.url + "/v1", apiKey: "unused", maxRetries: 0, timeout: 20000 });
  });
  afterEach(async () => {
    await router?.close();
    await Promise.all(sims.map((s) => s.close().catch(() => undefined)));
  });

  async function batch(n: number): Promise<{ ok: number; targets: Set<string>; maxMs: number }> {
    let ok = 0;
    let maxMs = 0;
    const targets = new Set<string>();
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const t0 = Date.now();
        const { data, response } = await client.completions
          .create({ model: MODEL, prompt: `request ${i}`, max_tokens: 4 })
          .withResponse();
        maxMs = Math.max(maxMs, Date.now() - t0);
        if (data.choices.length === 1) ok++;
        targets.add(response.headers.get("target-pod") ?? "");
      }),
    );
    return { ok, targets, maxMs };
  }

  it("an engine answering 500s: every request still succeeds elsewhere and the engine is ejected", async () => {
    sims[0]!.setFaults({ errorRate: 1 });
    const r = await batch(30);
    expect(r.ok).to.equal(30);
    expect(r.targets.has(`${sims[0]!.host}:${sims[0]!.port}`)).to.equal(false);
    expect(router.registry.get(`${sims[0]!.host}:${sims[0]!.port}`)!.isEjected(Date.now())).to.equal(true);
  });

  it("a hanging engine: requests fail over after the first-byte timeout, others are unaffected", async () => {
    sims[1]!.setFaults({ hang: true });
    const r = await batch(20);
    expect(r.ok).to.equal(20);
    expect(r.maxMs).to.be.below(6000);
    expect(r.targets.has(`${sims[1]!.host}:${sims[1]!.port}`)).to.equal(false);
  });

  it("an engine killed mid-stream: its stream ends with an error event, never a hang; new traffic flows", async () => {
    const victim = sims[2]!;
    const victimId = `${victim.host}:${victim.port}`;
    // Pin a long stream to the victim with the session header, then kill the engine while it streams.
    const res = await fetch(router.url + "/v1/chat/completions", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "routing-strategy": "session-affinity",
        "x-session-id": Buffer.from(victimId).toString("base64"),
      },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: "user", content: "tell a long story" }],
        max_tokens: 4000,
        stream: true,
      }),
    });
    expect(res.headers.get("target-pod")).to.equal(victimId);
    const reader = res.body!.getReader();
    await reader.read();
    victim.setFaults({ crash: true });
    const t0 = Date.now();
    let text = "";
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    expect(Date.now() - t0).to.be.below(5000);
    expect(text).to.match(/"error":\{"message":"upstream engine failed mid-stream/);
    const r = await batch(20);
    expect(r.ok).to.equal(20);
    expect(r.targets.has(victimId)).to.equal(false);
  });
});
