// API keys as AIBrix users have them: engines started with --api-key check the client's own bearer token (the
// router passes it through), and a router given a static key list refuses any other key with 401.
import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { StaticKeys } from "../../../router/flow-control/auth/static-keys.js";
import { StaticDiscovery, toEndpointSpec } from "../../../router/discovery/static.js";
import { startRouter, type Router, type RouterOptions } from "../../../router/server.js";
import { endpointEntry, startSimulator, type RunningSimulator } from "../../../simulator/index.js";

describe("router: API keys", function () {
  this.timeout(30_000);
  let sim: RunningSimulator;
  let dir: string;
  const routers: Router[] = [];
  before(async () => {
    sim = await startSimulator({ model: "m", speedup: 50, apiKey: "sk-engine" });
    dir = await mkdtemp(path.join(os.tmpdir(), "keys-"));
  });
  after(async () => {
    for (const r of routers) await r.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function router(extra: Partial<RouterOptions>) {
    const r = await startRouter({
      port: 0,
      logLevel: "silent",
      discovery: new StaticDiscovery([toEndpointSpec(endpointEntry(sim), "simulator")]),
      ...extra,
    });
    routers.push(r);
    return r;
  }
  const chat = (r: Router, authorization?: string) =>
    fetch(`${r.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
    });

  it("passes the client's bearer token through to an engine started with --api-key", async () => {
    const r = await router({});
    expect((await chat(r, "Bearer sk-engine")).status).to.equal(200);
    const wrong = await chat(r, "Bearer sk-wrong");
    expect(wrong.status).to.equal(401);
    // vLLM's {"error": "Unauthorized"}, in the OpenAI vocabulary the router speaks.
    expect(await wrong.json()).to.deep.equal({
      error: { message: "Unauthorized", type: "authentication_error", code: "invalid_api_key", param: null },
    });
  });

  it("passes engine errors on in the OpenAI vocabulary, message kept", async () => {
    const r = await router({});
    const res = await fetch(`${r.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-engine" },
      body: JSON.stringify({ model: "m", prompt: "hi", max_tokens: 10_000_000 }),
    });
    expect(res.status).to.equal(400);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body.error.type).to.equal("invalid_request_error");
    expect(body.error.code).to.equal(null);
    expect(body.error.message).to.match(/maximum context length is \d+ tokens/);
  });

  it("answers 401 invalid_api_key for a key outside the static list, and serves listed keys", async () => {
    const file = path.join(dir, "keys");
    await writeFile(file, "# gateway keys\nsk-engine\n\nsk-other\n");
    const r = await router({ apiKeys: StaticKeys.fromFile(file) });
    for (const auth of [undefined, "Bearer nope", "Basic x", "Bearer sk-engin"]) {
      const res = await chat(r, auth);
      expect(res.status, String(auth)).to.equal(401);
      const body = (await res.json()) as { error: { type: string; code: string } };
      expect(body.error).to.include({ type: "authentication_error", code: "invalid_api_key" });
    }
    expect((await chat(r, "Bearer sk-engine")).status).to.equal(200);
  });

  it("never forwards the client's key when told not to (the router's own keys stay at the router)", async () => {
    const r = await router({ forwardAuthorization: false });
    expect((await chat(r, "Bearer sk-engine")).status).to.equal(401);
    const withUpstream = await router({ forwardAuthorization: false, upstreamApiKey: "sk-engine" });
    expect((await chat(withUpstream, "Bearer anything")).status).to.equal(200);
  });
});
