// What a hostile or careless client can do to the router: slow bodies, huge prompts, deep nesting, odd model names,
// disconnect floods, wrong methods, and a hung engine. Each test would fail on a router without the limit it names.
import { expect } from "chai";
import fc from "fast-check";
import net from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { request } from "undici";
import { StaticDiscovery } from "../../../router/discovery/static.js";
import type { EndpointSpec } from "../../../router/endpoints/endpoints.js";
import { startRouter, type Router, type RouterOptions } from "../../../router/server.js";
import { until } from "../../support/until.js";
import { startFakeEngine, type FakeEngine } from "./fake-engine.js";

const spec = (e: FakeEngine, model = "m"): EndpointSpec => ({
  id: e.id,
  host: e.host,
  port: e.port,
  model,
  adapters: [],
  engine: "vllm",
});

/** A socket from `localAddress` that sends headers for a body it then trickles (or never sends). */
function slowBody(port: number, localAddress = "127.0.0.1"): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1", localAddress }, () => {
      s.write(
        "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{",
      );
      resolve(s);
    });
    s.resume(); // read, so the socket sees the server close it
    s.on("error", () => undefined);
    s.once("error", reject);
  });
}

const closed = (s: net.Socket) => s.destroyed || s.readyState === "closed";

/** Polls GET /healthz every 5 ms while `work` runs; resolves with the slowest answer (ms). */
async function probeWhile(url: string, work: Promise<unknown>): Promise<{ maxMs: number; samples: number }> {
  let done = false;
  let maxMs = 0;
  let samples = 0;
  const probe = (async () => {
    while (!done) {
      const t0 = performance.now();
      const res = await request(url + "/healthz");
      await res.body.text();
      maxMs = Math.max(maxMs, performance.now() - t0);
      samples++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await work;
  done = true;
  await probe;
  return { maxMs, samples };
}

describe("router hardening", function () {
  this.timeout(30000);
  const engines: FakeEngine[] = [];
  const routers: Router[] = [];
  const sockets: net.Socket[] = [];
  async function engine(init: Parameters<typeof startFakeEngine>[1] = {}) {
    const e = await startFakeEngine("m", init);
    engines.push(e);
    return e;
  }
  async function router(specs: EndpointSpec[], o: Partial<RouterOptions> = {}) {
    const r = await startRouter({
      port: 0,
      logLevel: "silent",
      discovery: new StaticDiscovery(specs),
      scrapeIntervalMs: 50,
      modelsRefreshMs: 100,
      ...o,
    });
    routers.push(r);
    return r;
  }
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(routers.splice(0).map((r) => r.close()));
    await Promise.all(engines.splice(0).map((e) => e.close()));
  });

  it("closes connections that trickle their body once the request deadline passes, serving others meanwhile", async () => {
    const e = await engine();
    const r = await router([spec(e)], { limits: { requestTimeoutMs: 1000, checkIntervalMs: 100 } });
    for (let i = 0; i < 200; i++) sockets.push(await slowBody(r.port));
    const ok = await request(r.url + "/v1/completions", {
      method: "POST",
      body: JSON.stringify({ model: "m", prompt: "hi" }),
    });
    expect(ok.statusCode).to.equal(200);
    await ok.body.text();
    await until("every trickling connection closed", () => sockets.every(closed), 5000);
  });

  it("caps connections per client address, so one client cannot take them all", async () => {
    const e = await engine();
    const r = await router([spec(e)], { limits: { maxConnectionsPerClient: 50 } });
    for (let i = 0; i < 120; i++) sockets.push(await slowBody(r.port, "127.0.0.2"));
    await until("connections past the cap closed", () => sockets.filter(closed).length === 70, 5000);
    // Another address is served while the first holds its 50.
    const other = await new Promise<number>((resolve, reject) => {
      const s = net.connect({ port: r.port, host: "127.0.0.1", localAddress: "127.0.0.3" }, () => {
        s.write("GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
      });
      let text = "";
      s.on("data", (d: Buffer) => (text += d.toString()));
      s.on("end", () => resolve(Number(text.split(" ")[1])));
      s.on("error", reject);
    });
    expect(other).to.equal(200);
  });

  it("refuses a body larger than the model's context can use before reading it, without stalling others", async () => {
    const e = await engine({ maxModelLen: 32768 });
    const r = await router([spec(e)], { defaultStrategy: "prefix-cache" });
    await until("context length learned", () => r.registry.all()[0]!.maxModelLen === 32768);
    const prompt = "lorem ipsum dolor sit amet ".repeat(1_200_000); // ~30 MB
    let status = 0;
    const { maxMs } = await probeWhile(
      r.url,
      request(r.url + "/v1/completions", { method: "POST", body: JSON.stringify({ model: "m", prompt }) }).then(
        async (res) => {
          status = res.statusCode;
          await res.body.text();
        },
        () => (status = 413), // the router may close before the client has sent everything
      ),
    );
    expect(status).to.equal(413);
    expect(maxMs).to.be.below(100);
    expect(e.hits).to.have.length(0);
  });

  it("bounds prompt analysis to the context: a prompt at the body limit delays others by under 100 ms", async () => {
    const e = await engine({ maxModelLen: 32768 });
    const r = await router([spec(e)], { defaultStrategy: "prefix-cache" });
    await until("context length learned", () => r.registry.all()[0]!.maxModelLen === 32768);
    const big = "lorem ipsum dolor sit amet ".repeat(55_000); // ~1.5 MB, under 1 MiB + 16 B × 32,768
    const send = (prompt: string) =>
      request(r.url + "/v1/completions", { method: "POST", body: JSON.stringify({ model: "m", prompt }) }).then(
        async (res) => {
          await res.body.text();
          return res.statusCode;
        },
      );
    await send(big.slice(0, 10_000)); // warm up
    // The probe's slowest answer while three requests are served: small prompts (what the shared machine's noise
    // alone costs) against prompts at the limit, median of three rounds each; the difference is the prompts' doing.
    const slowest = async (prompt: string) => {
      const rounds: number[] = [];
      for (let i = 0; i < 3; i++) {
        const sends = Array.from({ length: 3 }, () => send(prompt));
        rounds.push((await probeWhile(r.url, Promise.all(sends))).maxMs);
        expect(await Promise.all(sends)).to.deep.equal([200, 200, 200]);
      }
      return rounds.sort((a, b) => a - b)[1]!;
    };
    const baseline = await slowest("hello");
    const large = await slowest(big);
    expect(large - baseline, `slowest probe ${large.toFixed(0)} ms vs ${baseline.toFixed(0)} ms`).to.be.below(100);
  });

  it("refuses deep nesting before parsing it", async () => {
    const e = await engine();
    const r = await router([spec(e)]);
    const deep = "[".repeat(1_000_000) + "]".repeat(1_000_000);
    const t0 = performance.now();
    const res = await request(r.url + "/v1/completions", { method: "POST", body: `{"model":"m","prompt":${deep}}` });
    const body = (await res.body.json()) as { error: { message: string; type: string } };
    expect(res.statusCode).to.equal(400);
    expect(body.error.message).to.match(/nests deeper than 64 levels/);
    expect(performance.now() - t0).to.be.below(500);
  });

  it("answers any model name in the OpenAI shape, never 500, and counts it", async () => {
    const e = await engine();
    const r = await router([spec(e)]);
    const names = fc.oneof(fc.string({ unit: "binary" }), fc.constantFrom("модель", "a\u0000b", "\ud800", "é\r\nx"));
    await fc.assert(
      fc.asyncProperty(names, async (model) => {
        const res = await request(r.url + "/v1/chat/completions", {
          method: "POST",
          body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
        });
        const body = (await res.body.json()) as { error?: { type: string; code: string } };
        if (model === "m") {
          expect(res.statusCode).to.equal(200);
          return;
        }
        expect(res.statusCode, JSON.stringify(model)).to.be.oneOf([400, 404]);
        expect(body.error?.type).to.equal("invalid_request_error");
      }),
      { numRuns: 200 },
    );
    // Invalid UTF-8 on the wire.
    const raw = Buffer.concat([
      Buffer.from('{"model":"'),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('","prompt":"x"}'),
    ]);
    const bad = await request(r.url + "/v1/completions", { method: "POST", body: raw });
    expect(bad.statusCode).to.equal(404);
    await bad.body.text();
    const text = await r.metrics.registry.metrics();
    const unknown = /aibrix_router_requests_total\{model="\(unknown\)",status="404",strategy="[^"]*"\} (\d+)/.exec(
      text,
    );
    expect(Number(unknown?.[1])).to.be.at.least(1);
  });

  it("logs clients that go away at debug only, however many", async () => {
    const e = await engine();
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const r = await router([spec(e)], { logger: pino({ level: "debug" }, sink) });
    for (let i = 0; i < 300; i++) (await slowBody(r.port)).destroy();
    await new Promise((res) => setTimeout(res, 300));
    const loud = lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 40);
    expect(loud, loud.slice(0, 3).join("")).to.deep.equal([]);
  });

  it("answers 405 for a wrong method, 404 for an unknown path, and serves /health and /v1/models/{id}", async () => {
    const e = await engine();
    const r = await router([spec(e)]);
    const get = await request(r.url + "/v1/chat/completions");
    expect(get.statusCode).to.equal(405);
    expect(get.headers.allow).to.equal("POST");
    expect(((await get.body.json()) as { error: { type: string } }).error.type).to.equal("invalid_request_error");
    const unknown = await request(r.url + "/v2/nothing", { method: "POST", body: "{}" });
    expect(unknown.statusCode).to.equal(404);
    await unknown.body.text();
    const health = await request(r.url + "/health");
    expect(health.statusCode).to.equal(200);
    await health.body.text();
    const card = await request(r.url + "/v1/models/m");
    expect(card.statusCode).to.equal(200);
    expect(((await card.body.json()) as { id: string }).id).to.equal("m");
    const missing = await request(r.url + "/v1/models/nope");
    expect(missing.statusCode).to.equal(404);
    expect(((await missing.body.json()) as { error: { code: string } }).error.code).to.equal("model_not_found");
  });

  it("takes a hung engine out by active health checks before requests pile up on it", async () => {
    const good = await engine();
    const hung = await engine();
    const r = await router([spec(good), spec(hung)], {
      defaultStrategy: "random",
      healthCheck: { intervalMs: 200, timeoutMs: 200, failures: 2 },
    });
    hung.state.mode = "hang";
    // Requests sent before the checks catch the hang: those that went to the hung engine are retried elsewhere
    // as soon as it is taken out, instead of waiting out the first-byte timeout.
    const t0 = performance.now();
    const early = await Promise.all(
      Array.from({ length: 12 }, () =>
        request(r.url + "/v1/completions", { method: "POST", body: JSON.stringify({ model: "m", prompt: "x" }) }).then(
          async (res) => {
            await res.body.text();
            return res.statusCode;
          },
        ),
      ),
    );
    expect(early).to.deep.equal(Array(12).fill(200));
    expect(hung.hits.length, "some requests went to the hung engine first").to.be.above(0);
    expect(performance.now() - t0).to.be.below(3000);
    const ms = await until("hung endpoint taken out", () => r.registry.get(hung.id)!.unhealthy, 3000);
    expect(ms).to.be.below(1500);
    const before = hung.hits.length;
    for (let i = 0; i < 20; i++) {
      const res = await request(r.url + "/v1/completions", {
        method: "POST",
        body: JSON.stringify({ model: "m", prompt: "x" }),
      });
      expect(res.statusCode).to.equal(200);
      await res.body.text();
    }
    expect(hung.hits.length).to.equal(before);
    hung.state.mode = "ok";
    await until("endpoint back after a passing check", () => !r.registry.get(hung.id)!.unhealthy, 3000);
  });
});
