import { expect } from "chai";
import { request } from "undici";
import type { FlowControl, FlowRequest, TokenUsage } from "../../../router/flow-control/control.js";
import { StaticDiscovery } from "../../../router/discovery/static.js";
import type { Discovery } from "../../../router/discovery/types.js";
import type { EndpointSpec } from "../../../router/endpoints/endpoints.js";
import { startRouter, type Router, type RouterOptions } from "../../../router/server.js";
import { startFakeEngine, type FakeEngine } from "./fake-engine.js";

const spec = (e: { host: string; port: number }, model = "m", adapters: string[] = []): EndpointSpec => ({
  id: `${e.host}:${e.port}`,
  host: e.host,
  port: e.port,
  model,
  adapters,
  engine: "vllm",
});

async function post(r: Router, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await request(r.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => parseLoose(text) };
}

// Response bodies are inspected ad hoc in assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const parseLoose = (text: string): any => JSON.parse(text);

const chat = (model = "m", extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: "user", content: "hi there" }],
  ...extra,
});

describe("router server", function () {
  this.timeout(15000);
  const engines: FakeEngine[] = [];
  const routers: Router[] = [];
  async function engine(model = "m", init: Parameters<typeof startFakeEngine>[1] = {}) {
    const e = await startFakeEngine(model, init);
    engines.push(e);
    return e;
  }
  async function router(specs: EndpointSpec[], o: Partial<RouterOptions> = {}) {
    const r = await startRouter({
      port: 0,
      logLevel: "silent",
      discovery: new StaticDiscovery(specs),
      scrapeIntervalMs: 50,
      ...o,
    });
    routers.push(r);
    return r;
  }
  afterEach(async () => {
    await Promise.all(routers.splice(0).map((r) => r.close()));
    await Promise.all(engines.splice(0).map((e) => e.close()));
  });

  it("answers errors in OpenAI shape with the right status", async () => {
    const e = await engine();
    const r = await router([spec(e)]);
    const unknown = await post(r, "/v1/chat/completions", chat("gpt-9"));
    expect(unknown.status).to.equal(404);
    expect(unknown.json().error).to.deep.equal({
      message: "model gpt-9 does not exist; served models: m",
      type: "invalid_request_error",
      code: "model_not_found",
      param: "model",
    });
    expect(unknown.headers["x-error-no-model-backends"]).to.equal("gpt-9");
    const badJson = await post(r, "/v1/chat/completions", "{not json");
    expect(badJson.status).to.equal(400);
    expect(badJson.json().error.message).to.match(/not valid JSON/);
    expect((await post(r, "/v1/completions", { prompt: "x" })).json().error).to.include({
      param: "model",
      type: "invalid_request_error",
    });
    expect((await post(r, "/v1/chat/completions", chat("m", { stream: "yes" }))).json().error.param).to.equal("stream");
    expect((await post(r, "/v1/embeddings", { model: "m", input: [] })).json().error.param).to.equal("input");
    const strategy = await post(r, "/v1/completions", { model: "m", prompt: "x" }, { "routing-strategy": "fastest" });
    expect(strategy.status).to.equal(400);
    expect(strategy.headers["x-error-invalid-routing-strategy"]).to.equal("fastest");
    const other = await request(r.url + "/v1/unknown", { method: "POST", body: "{}" });
    expect(other.statusCode).to.equal(404);
    expect(((await other.body.json()) as { error: { type: string } }).error.type).to.equal("invalid_request_error");
    expect(e.hits).to.have.length(0);
  });

  it("refuses oversized bodies with 413", async () => {
    const e = await engine();
    const r = await router([spec(e)], { maxBodyBytes: 1000 });
    const res = await post(r, "/v1/completions", { model: "m", prompt: "x".repeat(5000) });
    expect(res.status).to.equal(413);
    expect(res.json().error.message).to.match(/exceeds 1000 bytes/);
  });

  it("answers 503 when a known model has no ready endpoint", async () => {
    const discovery: Discovery = {
      start: async (cb) => cb({ endpoints: [], models: ["ghost"] }),
      close: async () => {},
    };
    const r = await startRouter({ port: 0, logLevel: "silent", discovery });
    routers.push(r);
    const res = await post(r, "/v1/chat/completions", chat("ghost"));
    expect(res.status).to.equal(503);
    expect(res.json().error).to.include({ type: "overloaded_error", code: "service_unavailable" });
    expect(res.headers["x-error-no-model-backends"]).to.equal("true");
  });

  it("proxies, returns a request id and the target, and lists models and adapters", async () => {
    const e = await engine("m", { adapters: ["lora-a"] });
    const r = await router([spec(e)]);
    const res = await post(r, "/v1/chat/completions", chat());
    expect(res.status).to.equal(200);
    expect(res.json().choices[0].message.content).to.equal("hello");
    expect(res.headers["target-pod"]).to.equal(e.id);
    expect(res.headers["x-request-id"]).to.be.a("string").and.equal(res.headers["request-id"]);
    expect(e.hits[0]!.headers["x-request-id"]).to.equal(res.headers["x-request-id"]);
    const own = await post(
      r,
      "/v1/completions",
      { model: "m", prompt: "x" },
      { "x-request-id": "abc-123", authorization: "Bearer secret" },
    );
    expect(own.headers["x-request-id"]).to.equal("abc-123");
    // Without flow control the client's key goes through, as behind AIBrix's gateway (engines check it).
    expect(e.hits[1]!.headers.authorization).to.equal("Bearer secret");
    await r.registry.all()[0]!.pool; // adapters come from the engine's /v1/models
    for (let i = 0; i < 40 && !r.registry.serving("lora-a").length; i++) await new Promise((x) => setTimeout(x, 50));
    const models = (await (await request(r.url + "/v1/models")).body.json()) as {
      data: { id: string; parent: string | null }[];
    };
    expect(models.data.map((m) => [m.id, m.parent])).to.deep.equal([
      ["lora-a", "m"],
      ["m", null],
    ]);
    expect((await request(r.url + "/healthz")).statusCode).to.equal(200);
    expect((await request(r.url + "/readyz")).statusCode).to.equal(200);
    const metrics = await (await request(r.url + "/metrics")).body.text();
    expect(metrics).to.match(/aibrix_router_requests_total\{model="m",status="200",strategy="least-request"\} 2/);
  });

  it("relays SSE streams and reports streamed usage to flow control", async () => {
    const e = await engine("m", { tokens: 5 });
    const finished: { status: number; usage?: TokenUsage }[] = [];
    let streamed = 0;
    const flowControl: FlowControl = {
      async acquire(req: FlowRequest) {
        expect(req.promptTokens).to.be.greaterThan(0);
        return { ok: true, ticket: { onCompletionTokens: (n) => (streamed += n), finish: (o) => finished.push(o) } };
      },
      async close() {},
    };
    const r = await router([spec(e)], { flowControl });
    const res = await post(
      r,
      "/v1/chat/completions",
      chat("m", { stream: true, stream_options: { include_usage: true } }),
    );
    expect(res.status).to.equal(200);
    expect(res.headers["content-type"]).to.match(/text\/event-stream/);
    expect(res.text.match(/^data: /gm)).to.have.length(7);
    expect(res.text.endsWith("data: [DONE]\n\n")).to.equal(true);
    expect(finished).to.deep.equal([{ status: 200, usage: { prompt_tokens: 5, completion_tokens: 5 } }]);
    expect(streamed).to.be.at.least(5);
  });

  it("sends flow-control rejections as they are and never contacts an engine", async () => {
    const e = await engine();
    const flowControl: FlowControl = {
      async acquire() {
        return {
          ok: false,
          rejection: {
            status: 429,
            headers: { "x-error-rpm-exceeded": "true" },
            error: { message: "slow down", type: "rate_limit_error", code: "rate_limit_exceeded" },
          },
        };
      },
      async close() {},
    };
    const r = await router([spec(e)], { flowControl });
    const res = await post(r, "/v1/chat/completions", chat());
    expect(res.status).to.equal(429);
    expect(res.headers["x-error-rpm-exceeded"]).to.equal("true");
    expect(res.json().error).to.deep.equal({
      message: "slow down",
      type: "rate_limit_error",
      code: "rate_limit_exceeded",
      param: null,
    });
    expect(e.hits).to.have.length(0);
  });

  it("retries a refused connection and a 500 on another endpoint", async () => {
    const good = await engine();
    const failing = await engine("m", { mode: "status", failStatus: 500 });
    const dead = await engine();
    await dead.close();
    engines.splice(engines.indexOf(dead), 1);
    const r = await router([spec(dead), spec(failing), spec(good)], { defaultStrategy: "random" });
    for (let i = 0; i < 10; i++) {
      const res = await post(r, "/v1/completions", { model: "m", prompt: `x${i}` });
      expect(res.status).to.equal(200);
      expect(res.headers["target-pod"]).to.equal(good.id);
    }
    const metrics = await (await request(r.url + "/metrics")).body.text();
    expect(metrics).to.match(/aibrix_router_retries_total\{model="m",reason="connect"\} \d/);
  });

  it("passes an engine's own error through verbatim when every retry fails", async () => {
    const a = await engine("m", { mode: "status", failStatus: 500 });
    const r = await router([spec(a)]);
    const res = await post(r, "/v1/completions", { model: "m", prompt: "x" });
    expect(res.status).to.equal(500);
    expect(res.json()).to.deep.equal({
      error: { message: "engine says no", type: "api_error", code: null, param: null },
    });
  });

  it("gives up on a hanging engine after the first-byte timeout and retries elsewhere", async () => {
    const hang = await engine("m", { mode: "hang" });
    const good = await engine();
    const r = await router([spec(hang), spec(good)], { defaultStrategy: "random", timeouts: { firstByteMs: 300 } });
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) {
      const res = await post(r, "/v1/completions", { model: "m", prompt: "x" });
      expect(res.status).to.equal(200);
    }
    expect(Date.now() - t0).to.be.below(3000);
    const alone = await router([spec(hang)], { timeouts: { firstByteMs: 200 }, retry: { maxRetries: 0 } });
    const res = await post(alone, "/v1/completions", { model: "m", prompt: "x" });
    expect(res.status).to.equal(504);
    expect(res.json().error.message).to.match(/timed out/);
  });

  it("ejects an endpoint that keeps failing and brings it back after the cool-down", async () => {
    const flaky = await engine("m", { mode: "status", failStatus: 503 });
    const good = await engine();
    const r = await router([spec(flaky), spec(good)], {
      defaultStrategy: "random",
      ejection: { consecutiveFailures: 2, baseCooldownMs: 400, maxCooldownMs: 400 },
    });
    for (let i = 0; i < 20 && !r.registry.get(flaky.id)!.isEjected(Date.now()); i++) {
      expect((await post(r, "/v1/completions", { model: "m", prompt: "x" })).status).to.equal(200);
    }
    expect(r.registry.get(flaky.id)!.isEjected(Date.now())).to.equal(true);
    const hitsAtEjection = flaky.hits.length;
    for (let i = 0; i < 10; i++) await post(r, "/v1/completions", { model: "m", prompt: "x" });
    expect(flaky.hits.length).to.equal(hitsAtEjection);
    expect(await (await request(r.url + "/metrics")).body.text()).to.match(
      /aibrix_router_ejections_total\{endpoint="127.0.0.1:\d+"\} 1/,
    );
    flaky.state.mode = "ok";
    await new Promise((x) => setTimeout(x, 450));
    for (let i = 0; i < 20; i++) await post(r, "/v1/completions", { model: "m", prompt: "x" });
    expect(flaky.hits.length).to.be.greaterThan(hitsAtEjection);
  });

  it("ends a stream with an error event when the engine dies mid-stream", async () => {
    const e = await engine("m", { mode: "die-mid-stream", tokens: 5, tokenDelayMs: 20 });
    const r = await router([spec(e)]);
    const t0 = Date.now();
    const res = await post(r, "/v1/chat/completions", chat("m", { stream: true }));
    expect(Date.now() - t0).to.be.below(2000);
    expect(res.status).to.equal(200);
    expect(res.text).to.match(/data: \{"error":\{"message":"upstream engine failed mid-stream/);
    expect(res.text.endsWith("data: [DONE]\n\n")).to.equal(true);
  });

  it("cancels the engine's request when the client disconnects", async () => {
    const e = await engine("m", { tokens: 200, tokenDelayMs: 20 });
    const r = await router([spec(e)]);
    const ac = new AbortController();
    const res = await request(r.url + "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chat("m", { stream: true })),
      signal: ac.signal,
    });
    for await (const _chunk of res.body) break;
    ac.abort();
    for (let i = 0; i < 40 && e.cancelled === 0; i++) await new Promise((x) => setTimeout(x, 50));
    expect(e.cancelled).to.equal(1);
    for (let i = 0; i < 20 && r.registry.get(e.id)!.inFlight > 0; i++) await new Promise((x) => setTimeout(x, 25));
    expect(r.registry.get(e.id)!.inFlight).to.equal(0);
  });

  it("routes adapter requests only to endpoints that have the adapter", async () => {
    const plain = await engine();
    const withLora = await engine("m", { adapters: ["sql"] });
    const r = await router([spec(plain), spec(withLora, "m", ["sql"])], { defaultStrategy: "random" });
    for (let i = 0; i < 8; i++) {
      const res = await post(r, "/v1/completions", { model: "sql", prompt: "x" });
      expect(res.headers["target-pod"]).to.equal(withLora.id);
    }
  });

  it("issues x-session-id under session-affinity and honours it", async () => {
    const a = await engine();
    const b = await engine();
    const r = await router([spec(a), spec(b)]);
    const first = await post(
      r,
      "/v1/completions",
      { model: "m", prompt: "x" },
      { "routing-strategy": "session-affinity" },
    );
    const sid = first.headers["x-session-id"] as string;
    expect(Buffer.from(sid, "base64").toString()).to.equal(first.headers["target-pod"]);
    for (let i = 0; i < 6; i++) {
      const res = await post(
        r,
        "/v1/completions",
        { model: "m", prompt: "x" },
        { "routing-strategy": "session-affinity", "x-session-id": sid },
      );
      expect(res.headers["target-pod"]).to.equal(first.headers["target-pod"]);
    }
  });

  it("exposes per-endpoint fleet state from scrapes and its own in-flight counts", async () => {
    const e = await engine("m", { waiting: 4, kvUsage: 0.6 });
    const r = await router([spec(e)]);
    await r.scrapeNow();
    const [view] = r.fleet.endpoints("m");
    expect(view).to.include({
      id: e.id,
      model: "m",
      waiting: 4,
      kvUsage: 0.6,
      inFlight: 0,
      stale: false,
      ejected: false,
    });
    expect(r.fleet.models()).to.deep.equal(["m"]);
    e.state.mode = "slow-metrics";
    await new Promise((x) => setTimeout(x, 400));
    expect(r.fleet.endpoints("m")[0]!.stale).to.equal(true);
  });
});
