import { expect } from "chai";
import { pino } from "pino";
import type { FlowRequest, FlowRejection, FlowTicket } from "../../../../router/flow-control/control.js";
import { createFlowControl, type FlowControlService } from "../../../../router/flow-control/index.js";
import { generateKey } from "../../../../router/flow-control/users/keys.js";

const silent = pino({ level: "silent" });
let seq = 0;
function req(over: Partial<FlowRequest> = {}): FlowRequest {
  return { id: `r${seq++}`, model: "m", promptTokens: 10, headers: {}, ...over };
}
const signal = () => new AbortController().signal;

async function admitOk(a: FlowControlService, r: FlowRequest): Promise<FlowTicket> {
  const d = await a.control.acquire(r, signal());
  if (!d.ok) throw new Error(`refused: ${d.rejection.error.message}`);
  return d.ticket;
}
async function refused(a: FlowControlService, r: FlowRequest): Promise<FlowRejection> {
  const d = await a.control.acquire(r, signal());
  if (d.ok) throw new Error("admitted");
  return d.rejection;
}

describe("flow control (in memory)", () => {
  let a: FlowControlService;
  afterEach(async () => a?.close());

  it("enforces RPM per user with 429, Retry-After, x-ratelimit-* and an OpenAI-shaped body", async () => {
    a = await createFlowControl({ logger: silent });
    await a.users.put({ name: "alice", rpm: 3, tpm: null, keys: [] });
    for (let i = 0; i < 3; i++) (await admitOk(a, req({ user: "alice" }))).finish({ status: 200 });
    const r = await refused(a, req({ user: "alice" }));
    expect(r.status).to.equal(429);
    expect(r.error).to.include({ type: "rate_limit_error", code: "rate_limit_exceeded" });
    expect(r.error.message).to.include("rpm limit is 3");
    expect(r.headers).to.include({
      "x-ratelimit-exceeded": "rpm",
      "x-ratelimit-limit-requests": "3",
      "x-error-rpm-exceeded": "true",
    });
    expect(Number(r.headers["retry-after"])).to.be.within(1, 61); // window + one slice at most
    // Other users are unaffected.
    await admitOk(a, req({ user: "bob" }));
  });

  it("counts real tokens for TPM: reserves prompt+max_tokens, refunds the unused part from usage", async () => {
    a = await createFlowControl({ logger: silent });
    await a.users.put({ name: "t", rpm: null, tpm: 1000, keys: [] });
    const t1 = await admitOk(a, req({ user: "t", promptTokens: 100, maxTokens: 800 }));
    // 900 reserved: a 200-token request does not fit now.
    expect((await refused(a, req({ user: "t", promptTokens: 150, maxTokens: 50 }))).headers).to.include({
      "x-ratelimit-exceeded": "tpm",
    });
    t1.onCompletionTokens(20);
    t1.finish({ status: 200, usage: { prompt_tokens: 100, completion_tokens: 20 } });
    await new Promise((r) => setTimeout(r, 5));
    // 120 used: 850 more fits, 900 does not.
    const t2 = await admitOk(a, req({ user: "t", promptTokens: 850 }));
    t2.finish({ status: 200, usage: { prompt_tokens: 850, completion_tokens: 0 } });
    await new Promise((r) => setTimeout(r, 5));
    await refused(a, req({ user: "t", promptTokens: 31 }));
  });

  it("explains a request that alone exceeds the TPM limit (no Retry-After: waiting cannot help)", async () => {
    a = await createFlowControl({ logger: silent });
    await a.users.put({ name: "small", rpm: null, tpm: 100, keys: [] });
    const r = await refused(a, req({ user: "small", promptTokens: 50, maxTokens: 500 }));
    expect(r.status).to.equal(429);
    expect(r.error.param).to.equal("max_tokens");
    expect(r.error.message).to.include("needs 550 tokens");
    expect(r.headers).to.not.have.property("retry-after");
  });

  it("charges streamed completion tokens beyond the reservation as they arrive", async () => {
    a = await createFlowControl({ logger: silent });
    await a.users.put({ name: "s", rpm: null, tpm: 100, keys: [] });
    const t = await admitOk(a, req({ user: "s", promptTokens: 10 })); // no max_tokens: nothing reserved
    t.onCompletionTokens(95);
    await new Promise((r) => setTimeout(r, 5));
    await refused(a, req({ user: "s", promptTokens: 1 }));
    t.finish({ status: 200 });
  });

  it("with auth on: missing, malformed and unknown keys get 401; a valid key identifies its user", async () => {
    a = await createFlowControl({ logger: silent, auth: "keys" });
    const { key, stored } = generateKey();
    await a.users.put({ name: "carol", rpm: 1, tpm: null, keys: [stored] });
    await a.users.linkKey(stored.id, "carol");
    expect((await refused(a, req())).error.code).to.equal("missing_api_key");
    const malformed = await refused(a, req({ authorization: "Bearer nope" }));
    expect(malformed.status).to.equal(401);
    expect(malformed.error.message).to.include("malformed API key");
    const forged = key.slice(0, -4) + "AAAA";
    expect((await refused(a, req({ authorization: `Bearer ${forged}` }))).error.message).to.include("invalid API key");
    const t = await admitOk(a, req({ authorization: `Bearer ${key}`, user: "someone-else" }));
    expect(t.user).to.equal("carol");
    expect((await refused(a, req({ authorization: `Bearer ${key}` }))).status).to.equal(429);
  });

  it("refuses models outside a user's allowed list with 403 naming the allowed ones", async () => {
    a = await createFlowControl({ logger: silent });
    await a.users.put({ name: "d", rpm: null, tpm: null, models: ["m2"], keys: [] });
    const r = await refused(a, req({ user: "d", model: "m" }));
    expect(r.status).to.equal(403);
    expect(r.error.message).to.include("allowed: m2");
  });

  it("limits per-model RPS and refunds the RPS charge when the user limit refuses", async () => {
    a = await createFlowControl({ logger: silent, limits: { models: { m: { rps: 2 } } } });
    await a.users.put({ name: "z", rpm: 0, tpm: null, keys: [] });
    await refused(a, req({ user: "z" })); // rpm 0 refuses; the model RPS slot is given back
    await admitOk(a, req());
    await admitOk(a, req());
    const r = await refused(a, req());
    expect(r.headers).to.include({ "x-ratelimit-exceeded": "model-rps", "x-error-model-rps-exceeded": "true" });
  });

  it("takes a model's RPS from its own limits, else its config profile, else the default for unlisted models", async () => {
    a = await createFlowControl({
      logger: silent,
      limits: { models: { m: { concurrency: 100 }, fixed: { rps: 1 } }, defaultModel: { rps: 1 } },
    });
    // Listed without a rate: the default does not apply, a profile's rate does.
    for (let i = 0; i < 3; i++) (await admitOk(a, req({ model: "m" }))).finish({ status: 200 });
    await admitOk(a, req({ model: "m", profileRps: 1 }));
    expect((await refused(a, req({ model: "m", profileRps: 1 }))).headers).to.include({
      "x-ratelimit-exceeded": "model-rps",
    });
    // Listed with a rate: that rate wins over the profile's.
    await admitOk(a, req({ model: "fixed", profileRps: 100 }));
    await refused(a, req({ model: "fixed", profileRps: 100 }));
    // Unlisted: the profile's rate wins over the default.
    for (let i = 0; i < 3; i++) await admitOk(a, req({ model: "other", profileRps: 100 }));
    await admitOk(a, req({ model: "plain" }));
    await refused(a, req({ model: "plain" }));
  });

  it("queues beyond per-model concurrency and admits the next when one finishes; bad priority header → 400", async () => {
    a = await createFlowControl({ logger: silent, limits: { models: { m: { concurrency: 1 } } } });
    const first = await admitOk(a, req({ user: "u1" }));
    let admitted = false;
    const second = a.control.acquire(req({ user: "u2" }), signal()).then((d) => {
      admitted = d.ok;
      return d;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(admitted).to.equal(false);
    expect(a.queueDepth("m")).to.equal(1);
    first.finish({ status: 200 });
    const d = await second;
    expect(d.ok).to.equal(true);
    const bad = await refused(a, req({ headers: { priority: "urgent" } }));
    expect(bad.status).to.equal(400);
    expect(bad.error.param).to.equal("priority");
    if (d.ok) d.ticket.finish({ status: 200 });
  });

  it("gives capacity and quota back when the client leaves before flow control decides", async () => {
    a = await createFlowControl({ logger: silent, limits: { models: { m: { concurrency: 1 } } } });
    await a.users.put({ name: "gone", rpm: 1, tpm: null, keys: [] });
    const ac = new AbortController();
    ac.abort();
    const d = await a.control.acquire(req({ user: "gone" }), ac.signal);
    expect(d.ok).to.equal(false);
    if (!d.ok) expect(d.rejection.status).to.equal(499);
    // Neither the concurrency slot nor the one request per minute was used up.
    const t = await admitOk(a, req({ user: "gone" }));
    t.finish({ status: 200 });
  });

  it("sheds sheddable requests on a saturated fleet and keeps others queued until the fleet has room", async () => {
    let waiting = 9;
    a = await createFlowControl({ logger: silent, metricsIntervalMs: 10 });
    a.control.attachFleet!({
      endpoints: () => [{ waiting, kvUsage: 0.2, inFlight: 0, stale: false, ejected: false }],
    });
    const shed = await refused(a, req({ headers: { priority: "sheddable" } }));
    expect(shed.status).to.equal(429);
    expect(shed.error.message).to.include("sheddable");
    const pending = a.control.acquire(req({ headers: { priority: "critical" } }), signal());
    await new Promise((r) => setTimeout(r, 30));
    expect(a.queueDepth("m")).to.equal(1);
    waiting = 0;
    const d = await pending;
    expect(d.ok).to.equal(true);
  });
});
