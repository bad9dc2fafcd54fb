// The users API over real HTTP, backed by a real Redis shared by two replicas.
import { expect } from "chai";
import { pino } from "pino";
import { createFlowControl, type FlowControlService } from "../../../../router/flow-control/index.js";
import { startRedis, type RunningRedis } from "../../../support/redis-server.js";

const silent = pino({ level: "silent" });

describe("users API", function () {
  this.timeout(20_000);
  let redis: RunningRedis;
  let a: FlowControlService;
  let b: FlowControlService;
  let base: string;
  let baseB: string;
  const adminToken = "admin-secret-token";

  before(async () => {
    redis = await startRedis();
    a = await createFlowControl({ redisUrl: redis.url, logger: silent, auth: "keys", adminToken, userCacheTtlMs: 50 });
    b = await createFlowControl({ redisUrl: redis.url, logger: silent, auth: "keys", adminToken, userCacheTtlMs: 50 });
    base = `http://127.0.0.1:${(await a.startAdminServer(0)).port}`;
    baseB = `http://127.0.0.1:${(await b.startAdminServer(0)).port}`;
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  const call = async (method: string, path: string, body?: unknown, token = adminToken, url = base) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const err = (r: { body: Record<string, unknown> }) => r.body.error as Record<string, unknown>;

  it("creates, reads, updates, lists and deletes users; keys are shown once and stored hashed", async () => {
    const c = await call("POST", "/v1/users", {
      name: "alice",
      rpm: 60,
      tpm: 10000,
      priority: "critical",
      models: ["m"],
    });
    expect(c.status).to.equal(201);
    expect(c.body).to.include({ name: "alice", rpm: 60, tpm: 10000, priority: 1 });
    expect((await call("GET", "/v1/users/alice")).body).to.include({ rpm: 60 });
    const u = await call("PATCH", "/v1/users/alice", { rpm: 120, tpm: null });
    expect(u.body).to.include({ rpm: 120, tpm: null });
    const k = await call("POST", "/v1/users/alice/keys");
    expect(k.status).to.equal(201);
    expect(k.body.key).to.match(/^sk-aibrix-/);
    const listed = await call("GET", "/v1/users");
    // The secret is all after the id's underscore (base64url: it may hold "_" itself).
    const secret = String(k.body.key).slice(String(k.body.key).indexOf("_") + 1);
    expect(secret).to.have.length(43);
    expect(JSON.stringify(listed.body)).to.not.include(secret);
    // The key works on the other replica at once (shared store).
    const d = await b.control.acquire(
      { id: "x", model: "m", promptTokens: 1, headers: {}, authorization: `Bearer ${String(k.body.key)}` },
      new AbortController().signal,
    );
    expect(d.ok && d.ticket.user).to.equal("alice");
    expect((await call("DELETE", `/v1/users/alice/keys/${String(k.body.id)}`)).status).to.equal(200);
    expect((await call("DELETE", "/v1/users/alice")).status).to.equal(200);
    expect((await call("GET", "/v1/users/alice", undefined, adminToken, baseB)).status).to.equal(404);
  });

  it("answers bad input with a clear 4xx naming the field and rule", async () => {
    const unknown = await call("GET", "/v1/users/nobody");
    expect(unknown.status).to.equal(404);
    expect(err(unknown)).to.include({ code: "user_not_found", param: "name" });
    const neg = await call("POST", "/v1/users", { name: "bob", rpm: -5 });
    expect(neg.status).to.equal(400);
    expect(err(neg)).to.include({ param: "rpm", type: "invalid_request_error" });
    expect(String(err(neg).message)).to.include("rpm must be an integer >= 0");
    const negTpm = await call("POST", "/UpdateUser", { name: "bob", tpm: -1 });
    expect(negTpm.status).to.equal(400);
    expect(err(negTpm).param).to.equal("tpm");
    const json = await call("POST", "/v1/users", "{not json");
    expect(json.status).to.equal(400);
    expect(err(json).code).to.equal("invalid_json");
    const dup1 = await call("POST", "/v1/users", { name: "dup" });
    expect(dup1.status).to.equal(201);
    expect((await call("POST", "/v1/users", { name: "dup" })).status).to.equal(409);
    const noAdmin = await call("GET", "/v1/users", undefined, "wrong");
    expect(noAdmin.status).to.equal(401);
    const badKeyDelete = await call("DELETE", "/v1/users/dup/keys/ffffffffffff");
    expect(badKeyDelete.status).to.equal(404);
  });

  it("speaks the AIBrix users API (idempotent CreateUser, 0 → default limits)", async () => {
    const c = await call("POST", "/CreateUser", { name: "legacy", rpm: 0, tpm: 0 });
    expect(c.body).to.deep.equal({ name: "legacy", rpm: 100, tpm: 100000 });
    expect((await call("POST", "/CreateUser", { name: "legacy", rpm: 5 })).body).to.include({ rpm: 100 });
    expect((await call("POST", "/UpdateUser", { name: "legacy", rpm: 7 })).body).to.include({ rpm: 7 });
    expect((await call("POST", "/ReadUser", { name: "legacy" })).body).to.include({ rpm: 7 });
    expect((await call("POST", "/ReadUser", { name: "ghost" })).status).to.equal(404);
    expect((await call("POST", "/DeleteUser", { name: "legacy" })).status).to.equal(200);
  });

  it("reads user records written by AIBrix itself (no keys field; 0 = AIBrix defaults)", async () => {
    const { Redis } = await import("ioredis");
    const r = new Redis(redis.url);
    try {
      await r.set("aibrix-users/from-aibrix", JSON.stringify({ name: "from-aibrix", rpm: 0, tpm: 0 }));
      const got = await call("GET", "/v1/users/from-aibrix");
      expect(got.body).to.include({ name: "from-aibrix", rpm: 100, tpm: 100000 });
    } finally {
      r.disconnect();
    }
  });

  it("rejects malformed and unknown API keys on the request path with 401", async () => {
    for (const authorization of ["Bearer sk-nope", "Basic abc", `Bearer sk-aibrix-0123456789ab_${"A".repeat(43)}`]) {
      const d = await a.control.acquire(
        { id: "y", model: "m", promptTokens: 1, headers: {}, authorization },
        new AbortController().signal,
      );
      expect(d.ok).to.equal(false);
      if (!d.ok) expect(d.rejection.status).to.equal(401);
    }
  });

  it("serves flow-control metrics and health on the admin port", async () => {
    const m = await fetch(`${base}/metrics`);
    expect(await m.text()).to.include("aibrix_router_redis_up 1");
    const h = await fetch(`${base}/healthz`);
    expect(await h.json()).to.deep.equal({ ok: true, redis: "up" });
  });
});
